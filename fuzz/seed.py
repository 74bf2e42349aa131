#!/usr/bin/env python3
"""Writes the seed corpora of Herald's fuzz targets into fuzz/corpus/<target>/.

Seeds come from the conformance fixtures in tests/fixtures and from inputs of the unit tests,
in each target's input format (see the comment at the top of each fuzz_targets/*.rs). The
corpora kept in the repository were grown from these seeds and minimized (`cargo fuzz cmin`);
run this again only to start over: `python3 fuzz/seed.py`.
"""
import hashlib
import json
import pathlib

FUZZ = pathlib.Path(__file__).resolve().parent
FIXTURES = FUZZ.parent / "tests" / "fixtures"
REGIONS = [None, "GB", "US", "de", "UK", "BR", " ", "ZZ"]  # as in fuzz_targets/import.rs


def write(target, data):
    if isinstance(data, str):
        data = data.encode()
    folder = FUZZ / "corpus" / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)


def fixture(name):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


# Templates: the mustache interpolation spec cases, template NUL data.
for case in fixture("templates.json")["cases"]:
    write("template", case["template"].encode() + b"\0" + json.dumps(case["data"]).encode())
for template in [
    "Hi {{first_name}}, your appointment is on {{day}} at {{time}}.",
    "{{{{x}}}}", "{{{x}}", "{{ {{x}} }}", "{{&x}}", "{{a..b}}", "{{address.city}}",
    "🎉{{prénom}}🎉 こんにちは{{ 名前 }}さん{{x}}", "{{\u0301x}}",
]:
    write("template", template.encode() + b"\0" + b'{"x":"X","a":{"b":1},"address.city":"Leeds"}')

# Segments: the 51 cases of Twilio's calculator.
for case in fixture("twilio-segment-cases.json")["cases"]:
    write("segments", case["body"])

# Phones: GOV.UK Notify's cases, each with no region and with GB, plus the unit tests' odd ones.
phones = set()
for key, value in fixture("notify-phone-cases.json").items():
    if isinstance(value, list):
        for item in value:
            phones.add(item["input"] if isinstance(item, dict) else item)
phones.update(["+1 800 FLOWERS", "+44 (0)7723 456 789", "+0044 7723 456789", "0021 11 2345 6789",
               "+39 06 1234 5678", "٠٧٧٢٣٤٥٦٧٨٩", "＋４４７７２３４５６７８９", "+800 1234 5678"])
for number in sorted(phones):
    write("phone", number)
    write("phone", "GB\n" + number)
write("phone", "BR\n0021 11 98765 4321")
write("phone", "uk\n07723 456789")

# Signatures: Twilio's SDK vectors, token / URL / signature / params one per line.
for vector in fixture("twilio-signatures.json")["vectors"]:
    params = vector.get("params") or {}
    lines = [vector["auth_token"], vector["url"], vector.get("signature") or ""]
    for name, value in params.items():
        for v in value if isinstance(value, list) else [value]:
            lines.append(f"{name}={v}")
    if vector.get("body") is not None:
        lines[2] = vector["body"]
    write("signature", "\n".join(lines))

# CSV and paste: csv-spectrum, and the unit tests' files and pastes, each under two regions.
imports = [p.read_bytes() for p in sorted((FIXTURES / "csv-spectrum" / "csvs").glob("*.csv"))]
imports += [s.encode() for s in [
    "tel\tname\n+447723456789\tAlice, Jr\n",
    "Number,Phone\n+447723456789,+14155552671\n",
    "Alice,+447723456789,London\nBob,+14155552671,Paris\n",
    "phone,name\n+447723456789,a,extra\n+14155552671,b\n",
    "SEP=|\nphone|name\n+447723456789|Smith, Alice, Dr\n",
    "\ufeffPhone Number;First name\r\n07723 456789;Zoë\r\n\"+44 7723 456780\";\"O\"\"Brien\"\r\n",
    "+44 7723 456789 +1 415 555 2671 +44 7723 456780",
    "07723 456789 07723 456780",
    "0772 3456 0772",
    "+447723456789 447723456780 07723456781",
    "447723456789\n4.47723E+11\n07723456789\n",
    "+447723456789, O\"Brien\n+14155552671, Bob\n",
    "Who;Name\n+447723456789;Alice\n+14155552671;Bob\n",
]]
imports.append("phone,name\n+447723456789,Zoë\n".encode("cp1252"))
imports.append("phone,name\n+447723456789,Zoë\n".encode("utf-16"))
for data in imports:
    write("import", bytes([0]) + data)
    write("import", bytes([REGIONS.index("GB")]) + data)

# Campaign bodies: the README's example and variations on every field.
base = {
    "from_number": "+447111000001",
    "name": "Spring offer",
    "message_template": "Hi {{first_name}}, 20% off cleanings this month. Reply YES to book.",
    "recipients": [
        {"phone": "+447700900124", "variables": {"first_name": "Sarah"}},
        {"phone": "+44 7700 900125", "variables": {"first_name": "Tom", "n": 1.5}},
    ],
}
bodies = [
    base,
    {**base, "schedule_type": "schedule", "scheduled_at": "2026-06-01T09:00:00Z"},
    {**base, "schedule_type": "draft", "require_consent": True, "agent_id": "agent_1"},
    {**base, "from_numbers": ["+447111000001", "+12025550104"], "from_number": None},
    {**base, "default_country": "GB", "recipients": [
        {"phone": "07700 900123", "line": 2, "converted_from": "07700 900123"},
        {"phone": "+447700900123"}, {"phone": "bad"}, {"variables": {"a": {"b": [1]}}}]},
    {**base, "name": 5, "recipients": [{"phone": 1, "extra": True}], "unknown": 1},
    {**base, "message_template": "€" * 1700},
    [base],
]
for body in bodies:
    write("campaign_json", json.dumps(body))
write("campaign_json", '{"name":"a","name":"b"}')
write("campaign_json", '{"recipients":[{"phone":"+44\\u0000"}]}')
write("campaign_json", '{"recipients":[{"phone":"+447700900124","phone":"+1"}]}')

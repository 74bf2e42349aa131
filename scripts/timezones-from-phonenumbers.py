#!/usr/bin/env python3
"""Writes data/timezones/map_data.txt from the `phonenumbers` wheel (PyPI), which carries
libphonenumber's PhoneNumberToTimeZonesMapper data (resources/timezones/map_data.txt,
Apache-2.0) as phonenumbers/tzdata/data*.py.

    pip download --no-deps phonenumbers==9.0.43 -d /tmp/pn
    python3 scripts/timezones-from-phonenumbers.py /tmp/pn/phonenumbers-9.0.43-py2.py3-none-any.whl

The output has libphonenumber's own line format, `PREFIX|Zone1&Zone2`, prefixes being the
leading digits of the E.164 number (country code included), sorted; Herald matches the
longest prefix (src/domain/send_window/zones.rs). The data files are read with `ast`, never
executed.
"""
import ast
import re
import sys
import zipfile

def main(wheel: str, out: str) -> None:
    version = re.search(r"phonenumbers-([0-9.]+)-", wheel)
    data = {}
    with zipfile.ZipFile(wheel) as z:
        names = sorted(n for n in z.namelist() if re.fullmatch(r"phonenumbers/tzdata/data\d+\.py", n))
        if not names:
            sys.exit("no phonenumbers/tzdata/data*.py in " + wheel)
        for name in names:
            tree = ast.parse(z.read(name).decode("utf-8"))
            for node in tree.body:
                if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "data":
                    data.update(ast.literal_eval(node.value))
    with open(out, "w", encoding="utf-8", newline="\n") as f:
        f.write("# libphonenumber time-zone map (PhoneNumberToTimeZonesMapper), Apache-2.0.\n")
        f.write(f"# From the phonenumbers {version.group(1) if version else '?'} wheel by scripts/timezones-from-phonenumbers.py; see README.md.\n")
        for prefix in sorted(data, key=lambda p: (len(p), p)):
            zones = data[prefix]
            if not prefix.isdigit() or not zones:
                sys.exit(f"unexpected entry {prefix!r}: {zones!r}")
            f.write(f"{prefix}|{'&'.join(zones)}\n")
    print(f"{len(data)} prefixes written to {out}")

if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "data/timezones/map_data.txt")

"""Drives Herald through a Python client generated from its OpenAPI document
(scripts/generated-client.sh): adds a sending number and an agent, previews and creates a
campaign with a template and variables, and reads it back until every message is delivered, checking the
fields. Every answer is read by the generated models, so a document that misdescribes an
answer fails here.

    python generated-client.py BASE_URL API_KEY
"""

import sys
import time

from herald_client import AuthenticatedClient
from herald_client.api.agents import create_agent
from herald_client.api.campaigns import (
    campaigns_create,
    campaigns_get,
    campaigns_list,
    preview_campaign,
)
from herald_client.api.numbers import create_number
from herald_client.models import (
    AgentRequest,
    AgentView,
    CampaignDetail,
    CampaignList,
    CampaignPreview,
    CampaignRequest,
    CampaignStatus,
    CreatedCampaign,
    NumberRequest,
    NumberView,
    PreviewRequest,
    RecipientRequest,
    RecipientStatus,
)
from herald_client.models.recipient_request_variables_type_0 import (
    RecipientRequestVariablesType0,
)

FROM = "+447446466847"
PEOPLE = [("+447111000001", "Sarah"), ("+447111000002", "James")]
TEMPLATE = "Hi {{first_name}}, Acme Dental offering 20% off cleanings this month. Reply YES to book."


def expect(kind, value, what):
    if not isinstance(value, kind):
        raise SystemExit(f"{what}: expected {kind.__name__}, got {value!r}")
    return value


def main(base_url, key):
    client = AuthenticatedClient(base_url=base_url, token=key, raise_on_unexpected_status=True)

    number = create_number.sync(client=client, body=NumberRequest(phone=FROM, mps=10.0))
    expect(NumberView, number, "POST /v1/numbers")
    assert number.phone == FROM, number

    agent = create_agent.sync(
        client=client,
        body=AgentRequest(name="Reception", system_prompt="You are the receptionist at Acme Dental."),
    )
    expect(AgentView, agent, "POST /v1/agents")

    recipients = []
    for phone, first_name in PEOPLE:
        variables = RecipientRequestVariablesType0()
        variables["first_name"] = first_name
        recipients.append(RecipientRequest(phone=phone, variables=variables))
    body = CampaignRequest(
        name="March promotion",
        message_template=TEMPLATE,
        recipients=recipients,
        from_number=FROM,
        agent_id=agent.agent_id,
    )

    # Preview takes create's body (its own schema: the same fields, none required).
    preview = preview_campaign.sync(client=client, body=PreviewRequest.from_dict(body.to_dict()))
    expect(CampaignPreview, preview, "POST /v1/sms/campaigns/preview")
    assert preview.valid, preview
    assert preview.totals.sendable == len(PEOPLE), preview.totals

    created = campaigns_create.sync(client=client, body=body, idempotency_key="generated-client-1")
    expect(CreatedCampaign, created, "POST /v1/sms/campaigns")
    assert created.total_count == len(PEOPLE), created
    assert created.name == "March promotion", created
    assert created.from_numbers == [FROM], created
    assert created.agent_id == agent.agent_id, created

    campaign = None
    for _ in range(300):
        campaign = campaigns_get.sync(created.campaign_id, client=client)
        expect(CampaignDetail, campaign, "GET /v1/sms/campaigns/{id}")
        # Done once every message went to Twilio; delivered once its status callbacks came.
        if campaign.status == CampaignStatus.DONE and campaign.pending_count == 0 and all(
            r.status == RecipientStatus.DELIVERED for r in campaign.recipients
        ):
            break
        time.sleep(0.1)
    assert campaign.status == CampaignStatus.DONE, campaign
    assert campaign.campaign_id == created.campaign_id, campaign
    assert campaign.total_count == len(PEOPLE), campaign
    assert campaign.delivered_count == len(PEOPLE), campaign
    assert campaign.failed_count == 0 and campaign.pending_count == 0, campaign
    assert campaign.finished_at is not None, campaign
    bodies = {r.phone: r.body for r in campaign.recipients}
    for phone, first_name in PEOPLE:
        assert bodies[phone] == TEMPLATE.replace("{{first_name}}", first_name), bodies
    assert all(r.status == RecipientStatus.DELIVERED for r in campaign.recipients), campaign

    listed = campaigns_list.sync(client=client)
    expect(CampaignList, listed, "GET /v1/sms/campaigns")
    assert [c.campaign_id for c in listed.campaigns] == [created.campaign_id], listed

    print(
        f"created {created.campaign_id} and read it back: {campaign.status.value}, "
        f"{campaign.delivered_count}/{campaign.total_count} delivered"
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

"""notify through its gRPC and REST API on the real mesh (the session's `mesh` fixture), with the
in_app channel end to end: a template, a message to a student, the student's inbox, marking it read
and the delivery log showing it read (and the events on NATS); bad input refused whole with 400 and
nothing sent; who may send and who may read the log."""

from __future__ import annotations

import asyncio
import time
import uuid

import grpc
import nats
import pytest
from google.rpc import error_details_pb2, status_pb2
from learnflow.identity.v1 import identity_service_pb2 as id_pb
from learnflow.identity.v1 import identity_service_pb2_grpc as id_grpc
from learnflow.identity.v1 import resources_pb2 as id_resources
from learnflow.notify.v1 import events_pb2, resources_pb2
from learnflow.notify.v1 import notify_service_pb2 as pb
from learnflow.notify.v1 import notify_service_pb2_grpc as pb_grpc

from services.runtime.testing import bearer, login, new_student, rest

SENT = resources_pb2.DELIVERY_STATUS_SENT
READ = resources_pb2.DELIVERY_STATUS_READ


@pytest.fixture(scope="module")
def stub(mesh):
    with grpc.insecure_channel(mesh.grpc_addr) as channel:
        yield pb_grpc.NotifyServiceStub(channel)


@pytest.fixture(scope="module")
def teacher(mesh):
    return login(mesh, "teacher@demo.test")


@pytest.fixture(scope="module")
def template(stub, teacher):
    """A template of the demo tenant, saved twice so there are two versions."""
    name = f"nudge-{uuid.uuid4().hex[:6]}"
    body = "Hello {{ student_name }}, {{ task }} is due."
    first = stub.PutTemplate(
        pb.PutTemplateRequest(template=resources_pb2.Template(name=name, subject="Old", body=body)),
        metadata=bearer(teacher),
        timeout=10,
    )
    second = stub.PutTemplate(
        pb.PutTemplateRequest(
            template=resources_pb2.Template(name=name, subject="Reminder: {{ task }}", body=body)
        ),
        metadata=bearer(teacher),
        timeout=10,
    )
    assert (first.version, second.version) == (1, 2)
    return name


@pytest.fixture(scope="module")
def other_tenant_student(mesh):
    slug = f"other-{uuid.uuid4().hex[:6]}"
    with grpc.insecure_channel(mesh.grpc_addr) as ch:
        id_grpc.IdentityServiceStub(ch).CreateTenant(
            id_pb.CreateTenantRequest(
                tenant=id_resources.Tenant(slug=slug, display_name="Other school"),
                admin_email=f"head@{slug}.test",
                admin_password="other-password",
            ),
            metadata=bearer(login(mesh, "operator@demo.test")),
            timeout=10,
        )
    admin = login(mesh, f"head@{slug}.test", "other-password", tenant=slug)
    return new_student(mesh, admin_token=admin, tenant=slug)


def _vars(**values: str) -> list[pb.Variable]:
    return [pb.Variable(name=k, value=v) for k, v in values.items()]


def _field_violations(err: grpc.RpcError) -> set[str]:
    fields = set()
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            for detail in status_pb2.Status.FromString(value).details:
                bad = error_details_pb2.BadRequest()
                if detail.Unpack(bad):
                    fields.update(v.field for v in bad.field_violations)
    return fields


def _until(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not reached")


def _deliveries_to(stub, token, recipient_id):
    return stub.ListDeliveries(
        pb.ListDeliveriesRequest(recipient_id=recipient_id, page_size=200), metadata=bearer(token), timeout=10
    ).deliveries


def test_an_in_app_message_is_sent_listed_read_and_the_log_shows_it_read(mesh, stub, teacher, template):
    student = new_student(mesh)

    async def main():
        nc = await nats.connect(mesh.nats_url)
        try:
            sub = await nc.subscribe("notify.delivery.*")
            await nc.flush()
            sent = rest(
                mesh,
                "POST",
                "/v1/notify/messages:send",
                {
                    "channel": "in_app",
                    "recipientId": student["id"],
                    "template": template,
                    "variables": [
                        {"name": "student_name", "value": "<Ada>"},
                        {"name": "task", "value": "Loops"},
                    ],
                    "urgency": "URGENCY_HIGH",
                    "idempotencyKey": f"k-{student['id']}",
                },
                token=teacher,
            )
            assert sent.status == 200, sent.body
            delivery_id = sent.body["id"]
            assert sent.body["templateVersion"] == 2 and sent.body["subject"] == "Reminder: Loops"
            # The same idempotency key again: the same delivery, nothing more sent.
            again = stub.SendMessage(
                pb.SendMessageRequest(
                    message=pb.MessageSpec(
                        channel="in_app",
                        recipient_id=student["id"],
                        template=template,
                        variables=_vars(student_name="x", task="y"),
                        idempotency_key=f"k-{student['id']}",
                    )
                ),
                metadata=bearer(teacher),
                timeout=10,
            )
            assert again.id == delivery_id

            def delivered():
                d = stub.GetDelivery(pb.GetDeliveryRequest(delivery_id=delivery_id), metadata=bearer(teacher))
                return d if d.status == SENT else None

            d = await asyncio.to_thread(_until, delivered)
            assert d.attempts == 1 and d.address == student["id"] and d.sent_time.seconds > 0

            inbox = rest(mesh, "GET", "/v1/notify/inbox?unreadOnly=true", token=student["token"])
            assert inbox.status == 200, inbox.body
            [message] = inbox.body["messages"]
            assert message["id"] == delivery_id and message["body"] == "Hello <Ada>, Loops is due."
            assert message["urgency"] == "URGENCY_HIGH" and "readTime" not in message

            # Nobody else may mark it read.
            other = new_student(mesh)
            assert (
                rest(
                    mesh, "POST", f"/v1/notify/inbox/{delivery_id}:markRead", {}, token=other["token"]
                ).status
                == 404
            )
            marked = rest(
                mesh, "POST", f"/v1/notify/inbox/{delivery_id}:markRead", {}, token=student["token"]
            )
            assert marked.status == 200 and marked.body["readTime"], marked.body
            assert (
                rest(mesh, "GET", "/v1/notify/inbox?unreadOnly=true", token=student["token"]).body.get(
                    "messages", []
                )
                == []
            )

            logged = rest(mesh, "GET", f"/v1/notify/deliveries/{delivery_id}", token=teacher)
            assert logged.body["status"] == "DELIVERY_STATUS_READ" and logged.body["readTime"]
            assert [n["kind"] for n in logged.body["notes"]] == ["read"]

            seen: dict[str, str] = {}
            while set(seen.values()) != {"notify.delivery.sent", "notify.delivery.read"}:
                msg = await sub.next_msg(timeout=20)
                event = (
                    events_pb2.DeliveryRead if msg.subject.endswith("read") else events_pb2.DeliverySent
                ).FromString(msg.data)
                if event.delivery.id == delivery_id:
                    seen[msg.subject] = msg.subject
        finally:
            await nc.close()

    asyncio.run(main())


def test_a_batch_is_sent_and_the_log_lists_newest_first_filtered_and_paginated(mesh, stub, teacher, template):
    student = new_student(mesh)
    reply = stub.BatchSendMessages(
        pb.BatchSendMessagesRequest(
            messages=[
                pb.MessageSpec(
                    channel="in_app",
                    recipient_id=student["id"],
                    template=template,
                    template_version=1,
                    variables=_vars(student_name="Ada", task=f"task {i}"),
                )
                for i in range(5)
            ]
        ),
        metadata=bearer(teacher),
        timeout=10,
    )
    assert len(reply.deliveries) == 5 and all(d.subject == "Old" for d in reply.deliveries)
    _until(lambda: all(d.status == SENT for d in _deliveries_to(stub, teacher, student["id"])))
    seen: list[str] = []
    token = ""
    while True:
        page = stub.ListDeliveries(
            pb.ListDeliveriesRequest(
                recipient_id=student["id"], channel="in_app", status=SENT, page_size=2, page_token=token
            ),
            metadata=bearer(teacher),
            timeout=10,
        )
        assert len(page.deliveries) <= 2
        seen += [d.id for d in page.deliveries]
        token = page.next_page_token
        if not token:
            break
    assert seen == [d.id for d in reversed(reply.deliveries)]  # newest first, each once
    assert not stub.ListDeliveries(
        pb.ListDeliveriesRequest(recipient_id=student["id"], status=READ), metadata=bearer(teacher)
    ).deliveries


def test_render_preview_shows_the_escaped_text_and_the_channels_limit(stub, teacher, template):
    preview = stub.RenderPreview(
        pb.RenderPreviewRequest(
            template=template, channel="in_app", variables=_vars(student_name="Ada", task="Loops")
        ),
        metadata=bearer(teacher),
        timeout=10,
    )
    assert preview.body == "Hello Ada, Loops is due." and preview.subject == "Reminder: Loops"
    assert (
        preview.max_length == 20_000 and preview.length == len(preview.body) and preview.template_version == 2
    )


@pytest.mark.parametrize(
    "case", ["unknown-variable", "oversize", "unknown-channel", "other-tenant", "unknown-template"]
)
def test_bad_input_is_400_naming_the_field_and_nothing_is_sent(
    mesh, stub, teacher, other_tenant_student, case
):
    student = new_student(mesh)
    name = f"long-{uuid.uuid4().hex[:6]}"
    stub.PutTemplate(
        pb.PutTemplateRequest(template=resources_pb2.Template(name=name, body="{{ a }}{{ b }}{{ c }}")),
        metadata=bearer(teacher),
    )
    body = {
        "channel": "in_app",
        "recipientId": student["id"],
        "template": name,
        "variables": [{"name": n, "value": "x" * 10} for n in "abc"],
    }
    field = {
        "unknown-variable": "message.variables",
        "oversize": "message.variables",
        "unknown-channel": "message.channel",
        "other-tenant": "message.recipient_id",
        "unknown-template": "message.template",
    }[case]
    if case == "unknown-variable":
        body["variables"] = body["variables"][:2]
    elif case == "oversize":
        body["variables"] = [{"name": n, "value": "x" * 10_000} for n in "abc"]  # 30,000 > in_app's 20,000
    elif case == "unknown-channel":
        body["channel"] = "carrier-pigeon"
    elif case == "other-tenant":
        body["recipientId"] = other_tenant_student["id"]
    else:
        body["template"] = "no-such-template"
    reply = rest(mesh, "POST", "/v1/notify/messages:send", body, token=teacher)
    assert reply.status == 400, reply.body
    violations = [v["field"] for d in reply.body.get("details", []) for v in d.get("fieldViolations", [])]
    assert field in violations, reply.body
    # Nothing was stored for either recipient, so nothing will be sent.
    recipient = body["recipientId"]
    assert (
        rest(
            mesh,
            "GET",
            f"/v1/notify/deliveries?recipientId={recipient}",
            token=login(mesh, "admin@demo.test"),
        ).body.get("deliveries", [])
        == []
    )
    assert rest(mesh, "GET", "/v1/notify/inbox", token=student["token"]).body.get("messages", []) == []


def test_students_may_not_send_and_teachers_read_only_what_they_sent(mesh, stub, teacher, template):
    student = new_student(mesh)
    spec = pb.MessageSpec(
        channel="in_app",
        recipient_id=student["id"],
        template=template,
        variables=_vars(student_name="a", task="b"),
    )
    with pytest.raises(grpc.RpcError) as err:
        stub.SendMessage(pb.SendMessageRequest(message=spec), metadata=bearer(student["token"]), timeout=10)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    admin = login(mesh, "admin@demo.test")
    by_admin = stub.SendMessage(pb.SendMessageRequest(message=spec), metadata=bearer(admin), timeout=10)
    with pytest.raises(grpc.RpcError) as err:
        stub.GetDelivery(pb.GetDeliveryRequest(delivery_id=by_admin.id), metadata=bearer(teacher), timeout=10)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert (
        stub.GetDelivery(pb.GetDeliveryRequest(delivery_id=by_admin.id), metadata=bearer(admin)).id
        == by_admin.id
    )
    with pytest.raises(grpc.RpcError) as err:
        stub.SendMessage(pb.SendMessageRequest(message=spec), timeout=10)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.SendMessageRequest(), "message"),
        (
            pb.SendMessageRequest(
                message=pb.MessageSpec(channel="in_app", recipient_id="nobody", template="t")
            ),
            "message.recipient_id",
        ),
        (pb.GetDeliveryRequest(delivery_id="not-an-id"), "delivery_id"),
        (pb.ListDeliveriesRequest(page_token="%%%"), "page_token"),
        (
            pb.SetQuietHoursRequest(quiet_hours=resources_pb2.QuietHours(start="25:00", end="07:00")),
            "quiet_hours.start",
        ),
        (pb.PutTemplateRequest(template=resources_pb2.Template(name="Bad Name", body="x")), "template.name"),
    ],
    ids=["no-message", "bad-recipient", "bad-id", "bad-page-token", "bad-quiet-start", "bad-template-name"],
)
def test_a_bad_request_is_invalid_argument_naming_the_field(stub, teacher, request_, field):
    method = {
        pb.SendMessageRequest: stub.SendMessage,
        pb.GetDeliveryRequest: stub.GetDelivery,
        pb.ListDeliveriesRequest: stub.ListDeliveries,
        pb.SetQuietHoursRequest: stub.SetQuietHours,
        pb.PutTemplateRequest: stub.PutTemplate,
    }[type(request_)]
    with pytest.raises(grpc.RpcError) as err:
        method(request_, metadata=bearer(teacher), timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in _field_violations(err.value)


def test_quiet_hours_are_the_callers_own(mesh, stub):
    student = new_student(mesh)
    saved = rest(
        mesh,
        "PUT",
        "/v1/notify/quietHours",
        {"start": "21:30", "end": "06:45", "timeZone": "Europe/Paris", "enabled": True},
        token=student["token"],
    )
    assert saved.status == 200, saved.body
    got = rest(mesh, "GET", "/v1/notify/quietHours", token=student["token"]).body
    assert (got["start"], got["end"], got["timeZone"], got["userId"]) == (
        "21:30",
        "06:45",
        "Europe/Paris",
        student["id"],
    )
    other = new_student(mesh)
    assert (
        rest(mesh, "GET", f"/v1/notify/quietHours?userId={other['id']}", token=student["token"]).status == 403
    )
    bad = rest(
        mesh,
        "PUT",
        "/v1/notify/quietHours",
        {"start": "21:30", "end": "06:45", "timeZone": "Mars/Base"},
        token=student["token"],
    )
    assert bad.status == 400, bad.body


@pytest.mark.parametrize(
    "body",
    [
        "{{" + "(" * 200 + "x" + ")" * 200 + "}}",  # Jinja's parser recurses past Python's limit
        "{% if x %}" * 100 + "x" + "{% endif %}" * 100,  # parses, but Python cannot compile it
    ],
    ids=["nested-parentheses", "nested-blocks"],
)
def test_a_template_nested_too_deeply_is_400_on_its_body_and_not_stored(mesh, stub, teacher, body):
    name = f"deep-{uuid.uuid4().hex[:6]}"
    with pytest.raises(grpc.RpcError) as err:
        stub.PutTemplate(
            pb.PutTemplateRequest(template=resources_pb2.Template(name=name, subject="Hi", body=body)),
            metadata=bearer(teacher),
            timeout=10,
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    assert _field_violations(err.value) == {"template.body"}
    reply = rest(mesh, "POST", "/v1/notify/templates", {"name": name, "body": body}, token=teacher)
    assert reply.status == 400, reply.body
    explained = [v for d in reply.body.get("details", []) for v in d.get("fieldViolations", [])]
    assert [v["field"] for v in explained] == ["template.body"], reply.body
    assert "nested too deeply" in explained[0]["description"], explained
    with pytest.raises(grpc.RpcError) as err:
        stub.GetTemplate(pb.GetTemplateRequest(name=name), metadata=bearer(teacher), timeout=10)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (
            "{% for i in range(99999) %}{% for j in range(99999) %}{% for k in range(99999) %}"
            "{% endfor %}{% endfor %}{% endfor %}",
            "a {% for %} loop",
        ),
        ("{{ 'x' * 10**9 }}", "the arithmetic operator '*'"),  # folded while compiling: 1 GB
        ("{{ 'x'.ljust(10**9) }}", "a call to the method .ljust()"),
    ],
    ids=["nested-loops", "constant-folded-product", "padding-method"],
)
def test_a_template_that_could_cost_more_than_its_text_is_400_at_once_and_not_stored(
    mesh, stub, teacher, template, body, named
):
    """The DoS review's payloads: refused by the allowlist before anything is compiled or run, so
    the answer comes at once (the server stays responsive) and names the construct."""
    name = f"costly-{uuid.uuid4().hex[:6]}"
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as err:
        stub.PutTemplate(
            pb.PutTemplateRequest(template=resources_pb2.Template(name=name, subject="Hi", body=body)),
            metadata=bearer(teacher),
            timeout=10,
        )
    assert time.monotonic() - started < 5
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    assert _field_violations(err.value) == {"template.body"}
    reply = rest(mesh, "POST", "/v1/notify/templates", {"name": name, "body": body}, token=teacher)
    assert reply.status == 400, reply.body
    explained = [v for d in reply.body.get("details", []) for v in d.get("fieldViolations", [])]
    assert [v["field"] for v in explained] == ["template.body"], reply.body
    assert named in explained[0]["description"], explained
    assert "which a message template may not" in explained[0]["description"], explained
    with pytest.raises(grpc.RpcError) as err:
        stub.GetTemplate(pb.GetTemplateRequest(name=name), metadata=bearer(teacher), timeout=10)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    # and the server still answers at once
    saved = stub.GetTemplate(pb.GetTemplateRequest(name=template), metadata=bearer(teacher), timeout=5)
    assert saved.version == 2

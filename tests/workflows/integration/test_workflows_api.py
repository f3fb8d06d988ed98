"""workflows through its gRPC API on the real mesh (the session's `mesh` fixture): create, read and list
items, and what a bad or unauthorized request gets back."""

import asyncio
import uuid

import grpc
import nats
import pytest
from google.rpc import error_details_pb2, status_pb2
from learnflow.workflows.v1 import events_pb2, resources_pb2
from learnflow.workflows.v1 import workflows_service_pb2 as pb
from learnflow.workflows.v1 import workflows_service_pb2_grpc as pb_grpc

from services.runtime.testing import bearer, login, rest


@pytest.fixture(scope="module")
def stub(mesh):
    with grpc.insecure_channel(mesh.grpc_addr) as channel:
        yield pb_grpc.WorkflowsServiceStub(channel)


@pytest.fixture(scope="module")
def teacher(mesh):
    return bearer(login(mesh, "teacher@demo.test"))


def _field_violations(err: grpc.RpcError) -> set[str]:
    fields = set()
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            for detail in status_pb2.Status.FromString(value).details:
                bad = error_details_pb2.BadRequest()
                if detail.Unpack(bad):
                    fields.update(v.field for v in bad.field_violations)
    return fields


def test_create_then_get_then_list(stub, teacher):
    name = f"item {uuid.uuid4().hex[:8]}"
    made = stub.CreateItem(
        pb.CreateItemRequest(item=resources_pb2.Item(display_name=f"  {name} ")), metadata=teacher, timeout=10
    )
    assert made.id and made.display_name == name and made.create_time.seconds > 0
    assert stub.GetItem(pb.GetItemRequest(item_id=made.id), metadata=teacher, timeout=10) == made
    # Page through everything, two at a time, so the page token is used too.
    seen: list[str] = []
    token = ""
    while True:
        page = stub.ListItems(
            pb.ListItemsRequest(page_size=2, page_token=token), metadata=teacher, timeout=10
        )
        assert len(page.items) <= 2
        seen += [i.id for i in page.items]
        token = page.next_page_token
        if not token:
            break
    assert made.id in seen
    assert len(seen) == len(set(seen)), "an item came back on two pages"


def test_create_and_get_through_rest(mesh):
    token = login(mesh, "teacher@demo.test")
    made = rest(mesh, "POST", "/v1/workflows/items", {"displayName": "over REST"}, token=token)
    assert made.status == 200, made.body
    got = rest(mesh, "GET", f"/v1/workflows/items/{made.body['id']}", token=token)
    assert got.status == 200 and got.body == made.body
    bad = rest(mesh, "POST", "/v1/workflows/items", {"displayName": " "}, token=token)
    assert bad.status == 400, bad.body


def test_a_created_item_is_published_as_an_event(mesh, stub, teacher):
    name = f"published {uuid.uuid4().hex[:8]}"

    async def main():
        nc = await nats.connect(mesh.nats_url)
        try:
            sub = await nc.subscribe("workflows.item.created")
            await nc.flush()  # subscribed at the server before the item is made
            request = pb.CreateItemRequest(item=resources_pb2.Item(display_name=name))
            made = await asyncio.to_thread(stub.CreateItem, request, metadata=teacher, timeout=10)
            while True:  # other tests create items too: wait for this one
                event = events_pb2.ItemCreated.FromString((await sub.next_msg(timeout=30)).data)
                if event.item.id == made.id:
                    return made, event
        finally:
            await nc.close()

    made, event = asyncio.run(main())
    assert event.item == made


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.CreateItemRequest(item=resources_pb2.Item(display_name="x" * 201)), "item.display_name"),
        (pb.CreateItemRequest(item=resources_pb2.Item(display_name="   ")), "item.display_name"),
        (pb.CreateItemRequest(), "item"),
        (pb.GetItemRequest(item_id="not-an-id"), "item_id"),
        (pb.ListItemsRequest(page_token="%%%"), "page_token"),
    ],
    ids=["name-too-long", "name-blank", "no-item", "bad-id", "bad-page-token"],
)
def test_a_bad_request_is_invalid_argument_naming_the_field(stub, teacher, request_, field):
    method = {
        pb.CreateItemRequest: stub.CreateItem,
        pb.GetItemRequest: stub.GetItem,
        pb.ListItemsRequest: stub.ListItems,
    }[type(request_)]
    with pytest.raises(grpc.RpcError) as err:
        method(request_, metadata=teacher, timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in _field_violations(err.value)


def test_an_unknown_item_is_not_found(stub, teacher):
    with pytest.raises(grpc.RpcError) as err:
        stub.GetItem(pb.GetItemRequest(item_id=str(uuid.uuid4())), metadata=teacher, timeout=10)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_student_may_read_but_not_create(stub, mesh):
    student = bearer(login(mesh, "student@demo.test"))
    stub.ListItems(pb.ListItemsRequest(), metadata=student, timeout=10)
    with pytest.raises(grpc.RpcError) as err:
        stub.CreateItem(
            pb.CreateItemRequest(item=resources_pb2.Item(display_name="mine")), metadata=student, timeout=10
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as err:
        stub.ListItems(pb.ListItemsRequest(), timeout=10)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED

"""identity through its gRPC API, on the real mesh: login, tokens, roles, errors, tenancy."""

import uuid

import grpc
import psycopg
import pytest
from google.rpc import error_details_pb2, status_pb2
from learnflow.auth.v1 import auth_pb2
from learnflow.identity.v1 import identity_service_pb2 as pb
from learnflow.identity.v1 import identity_service_pb2_grpc as pb_grpc
from learnflow.identity.v1 import resources_pb2

from services.runtime.testing import DEMO_PASSWORD, bearer, login


@pytest.fixture(scope="module")
def stub(mesh):
    with grpc.insecure_channel(mesh.grpc_addr) as channel:
        yield pb_grpc.IdentityServiceStub(channel)


@pytest.fixture(scope="module")
def admin(mesh):
    return login(mesh, "admin@demo.test")


def _error(err: grpc.RpcError) -> tuple[grpc.StatusCode, str, list]:
    details = []
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            for any_ in status.details:
                for cls in (error_details_pb2.ErrorInfo, error_details_pb2.BadRequest):
                    msg = cls()
                    if any_.Unpack(msg):
                        details.append(msg)
    return err.code(), err.details(), details


def test_login_wrong_password_is_unauthenticated_without_saying_which_part(stub):
    with pytest.raises(grpc.RpcError) as err:
        stub.Login(pb.LoginRequest(tenant="demo", email="teacher@demo.test", password="wrong-password"))
    code, message, details = _error(err.value)
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert details[0].reason == "INVALID_CREDENTIALS"
    with pytest.raises(grpc.RpcError) as err2:
        stub.Login(pb.LoginRequest(tenant="demo", email="nobody@demo.test", password="wrong-password"))
    assert err2.value.details() == message


def test_missing_login_fields_are_field_violations(stub):
    with pytest.raises(grpc.RpcError) as err:
        stub.Login(pb.LoginRequest(tenant="demo"))
    code, _, details = _error(err.value)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    bad = next(d for d in details if isinstance(d, error_details_pb2.BadRequest))
    assert {v.field for v in bad.field_violations} == {"email", "password"}


def test_no_token_wrong_role_and_bad_token(stub, mesh):
    with pytest.raises(grpc.RpcError) as err:
        stub.ListUsers(pb.ListUsersRequest())
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    student = login(mesh, "student@demo.test")
    with pytest.raises(grpc.RpcError) as err:
        stub.ListUsers(pb.ListUsersRequest(), metadata=bearer(student))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as err:
        stub.ListUsers(pb.ListUsersRequest(), metadata=bearer(student[:-4] + "AAAA"))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_student_reads_self_not_others_permission_before_existence(stub, mesh, admin):
    student = login(mesh, "student@demo.test")
    me = stub.GetUser(pb.GetUserRequest(user_id="me"), metadata=bearer(student))
    assert me.email == "student@demo.test"
    teacher_id = stub.GetUser(
        pb.GetUserRequest(user_id="me"), metadata=bearer(login(mesh, "teacher@demo.test"))
    ).id
    for other in (teacher_id, str(uuid.uuid4())):
        with pytest.raises(grpc.RpcError) as err:
            stub.GetUser(pb.GetUserRequest(user_id=other), metadata=bearer(student))
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_create_update_with_etag_and_pagination(stub, admin):
    emails = [f"p{i}-{uuid.uuid4().hex[:6]}@demo.test" for i in range(5)]
    for email in emails:
        stub.CreateUser(
            pb.CreateUserRequest(
                user=resources_pb2.User(email=email, roles=[auth_pb2.ROLE_STUDENT]),
                password="a-long-password",
            ),
            metadata=bearer(admin),
        )
    with pytest.raises(grpc.RpcError) as err:
        stub.CreateUser(
            pb.CreateUserRequest(
                user=resources_pb2.User(email=emails[0].upper(), roles=[auth_pb2.ROLE_STUDENT]),
                password="a-long-password",
            ),
            metadata=bearer(admin),
        )
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS

    seen, token = [], ""
    while True:
        page = stub.ListUsers(
            pb.ListUsersRequest(page_size=2, page_token=token, role=auth_pb2.ROLE_STUDENT),
            metadata=bearer(admin),
        )
        assert len(page.users) <= 2
        seen += list(page.users)
        token = page.next_page_token
        if not token:
            break
    seen_emails = [u.email for u in seen]
    assert seen_emails == sorted(seen_emails) and set(emails) <= set(seen_emails)
    assert len(seen_emails) == len(set(seen_emails))

    user = next(u for u in seen if u.email == emails[1])
    updated = stub.UpdateUser(
        pb.UpdateUserRequest(
            user=resources_pb2.User(id=user.id, display_name="Renamed", etag=user.etag),
            update_mask={"paths": ["display_name"]},
        ),
        metadata=bearer(admin),
    )
    assert updated.display_name == "Renamed" and updated.etag != user.etag
    assert list(updated.roles) == [auth_pb2.ROLE_STUDENT]
    with pytest.raises(grpc.RpcError) as err:
        stub.UpdateUser(
            pb.UpdateUserRequest(
                user=resources_pb2.User(id=user.id, display_name="Stale", etag=user.etag),
                update_mask={"paths": ["display_name"]},
            ),
            metadata=bearer(admin),
        )
    assert err.value.code() == grpc.StatusCode.ABORTED
    with pytest.raises(grpc.RpcError) as err:
        stub.UpdateUser(
            pb.UpdateUserRequest(user=resources_pb2.User(id=user.id), update_mask={"paths": ["email"]}),
            metadata=bearer(admin),
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_a_tenant_admin_cannot_demote_or_disable_an_operator(stub, mesh, admin):
    """Operators live in a school's tenant (the demo's); its admin manages the school, not them."""
    operator = stub.GetUser(
        pb.GetUserRequest(user_id="me"), metadata=bearer(login(mesh, "operator@demo.test"))
    )
    for user, mask in [
        (resources_pb2.User(id=operator.id, roles=[auth_pb2.ROLE_STUDENT]), "roles"),
        (resources_pb2.User(id=operator.id, disabled=True), "disabled"),
    ]:
        with pytest.raises(grpc.RpcError) as err:
            stub.UpdateUser(
                pb.UpdateUserRequest(user=user, update_mask={"paths": [mask]}), metadata=bearer(admin)
            )
        code, message, details = _error(err.value)
        assert code == grpc.StatusCode.PERMISSION_DENIED, message
        assert [d.reason for d in details if isinstance(d, error_details_pb2.ErrorInfo)] == [
            "ROLE_NOT_GRANTABLE"
        ]
    after = stub.GetUser(pb.GetUserRequest(user_id=operator.id), metadata=bearer(admin))
    assert list(after.roles) == list(operator.roles) and not after.disabled and after.etag == operator.etag
    login(mesh, "operator@demo.test")  # still signs in


def test_bad_page_token_is_invalid_argument(stub, admin):
    with pytest.raises(grpc.RpcError) as err:
        stub.ListUsers(pb.ListUsersRequest(page_token="garbage!"), metadata=bearer(admin))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_refresh_token_works_once(stub):
    first = stub.Login(pb.LoginRequest(tenant="demo", email="teacher@demo.test", password=DEMO_PASSWORD))
    second = stub.RefreshToken(pb.RefreshTokenRequest(refresh_token=first.tokens.refresh_token))
    assert second.tokens.access_token and second.tokens.refresh_token != first.tokens.refresh_token
    with pytest.raises(grpc.RpcError) as err:
        stub.RefreshToken(pb.RefreshTokenRequest(refresh_token=first.tokens.refresh_token))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_service_account_client_credentials(stub, admin):
    created = stub.CreateServiceAccount(
        pb.CreateServiceAccountRequest(name="progress-worker"), metadata=bearer(admin)
    )
    assert created.client_secret and created.account.kind == resources_pb2.USER_KIND_SERVICE_ACCOUNT
    tokens = stub.IssueServiceToken(
        pb.IssueServiceTokenRequest(
            tenant="demo", client_id=created.client_id, client_secret=created.client_secret
        )
    ).tokens
    page = stub.ListUsers(pb.ListUsersRequest(page_size=1), metadata=bearer(tokens.access_token))
    assert len(page.users) == 1
    with pytest.raises(grpc.RpcError) as err:
        stub.IssueServiceToken(
            pb.IssueServiceTokenRequest(tenant="demo", client_id=created.client_id, client_secret="wrong")
        )
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_cross_tenant_reads_are_impossible(stub, mesh):
    operator = login(mesh, "operator@demo.test")
    slug = f"school-{uuid.uuid4().hex[:6]}"
    stub.CreateTenant(
        pb.CreateTenantRequest(
            tenant=resources_pb2.Tenant(slug=slug, display_name="Other"),
            admin_email="head@other.test",
            admin_password="other-password",
        ),
        metadata=bearer(operator),
    )
    other_admin = login(mesh, "head@other.test", "other-password", tenant=slug)
    demo_teacher = stub.GetUser(
        pb.GetUserRequest(user_id="me"), metadata=bearer(login(mesh, "teacher@demo.test"))
    )
    with pytest.raises(grpc.RpcError) as err:
        stub.GetUser(pb.GetUserRequest(user_id=demo_teacher.id), metadata=bearer(other_admin))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    listed = stub.ListUsers(pb.ListUsersRequest(page_size=200), metadata=bearer(other_admin)).users
    assert [u.email for u in listed] == ["head@other.test"]


def test_rls_hides_other_tenants_even_without_a_where_clause(mesh):
    """Connect as the services' role and forget the tenant filter on purpose."""
    url = mesh.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        tenants = [r[0] for r in conn.execute("SELECT identity.tenant_id_for_slug('demo')")]
        assert tenants[0] is not None
        assert (
            conn.execute("SELECT count(*) FROM identity.users").fetchone()[0] == 0
        )  # no tenant set: nothing
        with conn.transaction():
            conn.execute("SELECT set_config('app.tenant_id', %s, true)", (str(tenants[0]),))
            rows = conn.execute("SELECT DISTINCT tenant_id FROM identity.users").fetchall()
            assert rows == [(tenants[0],)]
            with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                conn.execute(
                    "INSERT INTO identity.users (id, tenant_id, email, roles) VALUES "
                    "(gen_random_uuid(), gen_random_uuid(), 'x@y.z', '{student}')"
                )
        role = conn.execute(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        assert role == (False, False)

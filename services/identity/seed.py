"""The demo tenant of the embedded local mesh (never seeded elsewhere: settings refuse it).

Its class ("Demo Class": the demo teacher teaching the demo student, which README.md's struggle-alert
walk-through needs) belongs to progress: `learnflow up` makes it through progress's API once the mesh
serves (services/runtime/local/demo.py, which logs in with the emails and password below).
"""

from __future__ import annotations

import logging

from services.identity.domain import User
from services.identity.service import IdentityService
from services.runtime.errors import AlreadyExists
from services.runtime.request_context import Principal

log = logging.getLogger(__name__)

DEMO_TENANT = "demo"
DEMO_PASSWORD = "learnflow-demo"
DEMO_USERS = (
    ("admin@demo.test", "Ada Admin", ("admin",)),
    ("teacher@demo.test", "Tomás Teacher", ("teacher",)),
    ("student@demo.test", "Sam Student", ("student",)),
    ("operator@demo.test", "Olu Operator", ("operator",)),
    # runs MTSS sessions and takes attendance (the console's tablet page)
    ("facilitator@demo.test", "Fay Facilitator", ("facilitator",)),
)


async def seed_demo(service: IdentityService) -> None:
    tenant_id = await service.tenant_id(DEMO_TENANT)
    if tenant_id is None:
        tenant_id = (await service.create_tenant(DEMO_TENANT, "Demo School")).id
    seeder = Principal(subject="seed", tenant_id=tenant_id, roles=frozenset({"admin", "operator"}))
    created = []
    for email, name, roles in DEMO_USERS:
        try:
            await service.create_user(
                seeder, User(id="", tenant_id="", email=email, display_name=name, roles=roles), DEMO_PASSWORD
            )
            created.append(email)
        except AlreadyExists:
            pass  # seeded on an earlier start; the data is kept
    if created:
        log.info("seeded the demo tenant", extra={"tenant": DEMO_TENANT, "users": created})

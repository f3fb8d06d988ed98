"""Where the client commands look for the mesh: the port variables of `learnflow up`."""

from __future__ import annotations

import pytest

from services.runtime.cli_client import default_addr
from services.runtime.local.mesh import PORT_VARIABLES, Ports, ports_from_env
from services.runtime.settings import SettingsError


def test_every_port_has_a_variable_and_unset_means_the_default():
    assert set(PORT_VARIABLES) == set(Ports.__dataclass_fields__)
    assert ports_from_env({}) == Ports()


def test_each_variable_moves_its_port():
    env = {variable: str(20000 + i) for i, variable in enumerate(PORT_VARIABLES.values())}
    ports = ports_from_env(env)
    for i, name in enumerate(PORT_VARIABLES):
        assert getattr(ports, name) == 20000 + i


def test_bad_ports_are_all_named():
    with pytest.raises(SettingsError) as err:
        ports_from_env({"LEARNFLOW_GRPC_PORT": "x", "LEARNFLOW_HTTP_PORT": "70000", "LEARNFLOW_PG_PORT": "0"})
    assert [p.split("=")[0] for p in err.value.problems] == [
        "LEARNFLOW_HTTP_PORT",
        "LEARNFLOW_GRPC_PORT",
        "LEARNFLOW_PG_PORT",
    ]


def test_the_cli_uses_learnflow_addr_else_the_grpc_port_of_learnflow_up():
    assert default_addr({}) == "127.0.0.1:50051"
    assert default_addr({"LEARNFLOW_GRPC_PORT": "15051"}) == "127.0.0.1:15051"
    assert default_addr({"LEARNFLOW_GRPC_PORT": "15051", "LEARNFLOW_ADDR": "mesh:7000"}) == "mesh:7000"

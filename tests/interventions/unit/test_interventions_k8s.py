"""interventions' manifests (deploy/k8s/base/contexts/interventions), checked offline against its
ContextSpec: the policies folder is shipped as the interventions-policies ConfigMap (generated from
policies/), mounted whole (no subPath, which the kubelet never updates) where INTERVENTIONS_POLICIES_DIR
points, so the hot reload watches it; and an operator's kustomize overlay that replaces one policy
keeps the ConfigMap's name, so the running pods receive the edit in place.

The shared manifest helpers are tests/k8s/k8s_manifests.py (tests/k8s is put on sys.path for them).
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "k8s"))

from k8s_manifests import REPO, base_objects, context_deployment, gen, k8s_tree, kustomize, pod_spec

from services.interventions.app import CONTEXT, POLICIES_MOUNT
from services.interventions.domain.policy import parse
from services.interventions.folder import PolicyFolder

POLICIES = REPO / "policies"
NAME = "interventions-policies"


def test_the_policies_configmap_holds_every_policy_file_of_the_repository() -> None:
    data = base_objects("ConfigMap")[NAME]["data"]
    expected = {p.name: p.read_text(encoding="utf-8") for p in PolicyFolder(POLICIES).files()}
    assert {"ask_teacher.md", "ask_teacher_unclear.md", "calm_break.md", "review_concept.md"} <= set(expected)
    assert data == expected, "run make gen after changing policies/"
    for name, content in data.items():
        parse(content, name)  # every shipped default is valid


def test_the_deployment_mounts_it_whole_where_the_watcher_looks() -> None:
    config = base_objects("ConfigMap")[f"{CONTEXT.name}-config"]["data"]
    assert config["INTERVENTIONS_POLICIES_DIR"] == POLICIES_MOUNT
    spec = pod_spec(context_deployment(CONTEXT.name))
    (volume,) = [v for v in spec["volumes"] if v.get("configMap", {}).get("name") == NAME]
    (container,) = spec["containers"]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
    assert mount == {"name": volume["name"], "mountPath": POLICIES_MOUNT, "readOnly": True}
    assert "subPath" not in mount and "subPathExpr" not in mount


def test_an_overlay_replacing_one_policy_keeps_the_name_the_pods_mount(tmp_path: Path) -> None:
    edited = (POLICIES / "calm_break.md").read_text().replace("urgency: 40", "urgency: 45")
    (tmp_path / "calm_break.md").write_text(edited)
    base = k8s_tree() / gen.CONTEXTS_DIR / CONTEXT.name
    (tmp_path / "kustomization.yaml").write_text(
        f"resources:\n- {os.path.relpath(base, tmp_path)}\n"  # kustomize refuses absolute paths
        f"configMapGenerator:\n- name: {NAME}\n  behavior: merge\n  files:\n  - calm_break.md\n"
    )
    docs = kustomize(tmp_path)
    (policies,) = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith(NAME)]
    assert policies["metadata"]["name"] == NAME  # no hash suffix: the Deployment's volume still names it
    assert policies["data"]["calm_break.md"] == edited
    assert policies["data"]["review_concept.md"] == (POLICIES / "review_concept.md").read_text()
    assert parse(policies["data"]["calm_break.md"], "calm_break.md").urgency == 45


@pytest.mark.parametrize(
    ("mount", "message"),
    [
        ({"setting": "NOT_DECLARED"}, "not a declared setting"),
        ({"mount_path": "etc/policies"}, "absolute path"),
        ({"mount_path": "/tmp"}, "absolute path of its own"),
        ({"folder": "no-such-folder"}, "not a folder of the repository"),
    ],
)
def test_the_generator_refuses_a_folder_it_cannot_mount(mount: dict[str, Any], message: str) -> None:
    (folder,) = CONTEXT.deploy.folders
    spec = replace(CONTEXT, deploy=replace(CONTEXT.deploy, folders=(replace(folder, **mount),)))
    others = [c for c in gen.discover_contexts() if c.name != CONTEXT.name]
    with pytest.raises(ValueError, match=message):
        gen.check([*others, spec])

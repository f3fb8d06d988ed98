from __future__ import annotations
from typing import Any
from gateway.descriptors import DescriptorSet
def build(ds: DescriptorSet) -> dict[str, Any]:
    return {}

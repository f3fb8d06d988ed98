"""protoc plugin that emits grpcio `*_pb2_grpc.py` files, for `buf generate`.

grpcio-tools bundles the gRPC Python generator inside its own protoc, not as a standalone plugin. This
plugin reads the CodeGeneratorRequest buf sends, hands the files to that bundled protoc through a
descriptor set, and returns what it wrote as a CodeGeneratorResponse.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2
from grpc_tools import protoc


def generate(request: plugin_pb2.CodeGeneratorRequest) -> plugin_pb2.CodeGeneratorResponse:
    response = plugin_pb2.CodeGeneratorResponse()
    response.supported_features = plugin_pb2.CodeGeneratorResponse.FEATURE_PROTO3_OPTIONAL
    with tempfile.TemporaryDirectory() as tmp:
        descriptors = Path(tmp) / "in.binpb"
        out = Path(tmp) / "out"
        out.mkdir()
        fds = descriptor_pb2.FileDescriptorSet(file=list(request.proto_file))
        descriptors.write_bytes(fds.SerializeToString())
        args = ["grpc_tools.protoc", f"--descriptor_set_in={descriptors}", f"--grpc_python_out={out}"]
        if protoc.main([*args, *request.file_to_generate]) != 0:
            response.error = "grpc_tools.protoc failed for " + ", ".join(request.file_to_generate)
            return response
        for path in sorted(out.rglob("*.py")):
            text = path.read_text()
            if "class " not in text:
                continue  # a proto without services yields an import-only stub; skip it
            response.file.add(name=str(path.relative_to(out)), content=text)
    return response


def main() -> None:
    request = plugin_pb2.CodeGeneratorRequest.FromString(sys.stdin.buffer.read())
    sys.stdout.buffer.write(generate(request).SerializeToString())


if __name__ == "__main__":
    main()

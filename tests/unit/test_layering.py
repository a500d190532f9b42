"""House rules that keep the architecture honest."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PURE_CORES = ["mini_kafka/protocol.py", "mini_kafka/records.py", "mini_kafka/raft",
              "mini_kafka/broker/replica.py", "mini_kafka/broker/groups.py",
              "mini_kafka/coordinator/state.py"]
IO_MODULES = {"zmq", "socket", "asyncio", "time", "select", "selectors", "threading"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def _python_files(*roots: str):
    for root in roots:
        path = ROOT / root
        yield from ([path] if path.is_file() else sorted(path.rglob("*.py")))


def test_only_the_transport_imports_zmq():
    offenders = [str(p.relative_to(ROOT)) for p in _python_files("mini_kafka", "launcher")
                 if "zmq" in _imports(p) and "transport" not in p.relative_to(ROOT).parts]
    assert offenders == [], f"import zmq only in mini_kafka/transport/: {offenders}"


def test_pure_cores_do_no_io_and_read_no_clock():
    offenders = {str(p.relative_to(ROOT)): sorted(_imports(p) & IO_MODULES)
                 for p in _python_files(*[r for r in PURE_CORES if (ROOT / r).exists()])}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_layering_check_itself_sees_a_zmq_import(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("import os\nfrom zmq.asyncio import Context\n")
    assert "zmq" in _imports(sample)

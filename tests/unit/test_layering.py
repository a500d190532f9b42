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


# What `pip install .` does not install: only tests and the pytest plugin may import it.
TEST_ONLY = {"pytest", "_pytest", "kafka", "tests", "launcher.pytest_plugin"}
TEST_ONLY_ALLOWED = {"launcher/pytest_plugin.py"}


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports, anywhere in it (functions too), with its parents."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
            [node.module] if isinstance(node, ast.ImportFrom) and node.module and \
            node.level == 0 else []
        for name in names:
            parts = name.split(".")
            found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return found


def test_runtime_code_never_imports_a_test_only_dependency():
    """`mini-kafka perf failover` once failed after the README's install with
    `No module named 'pytest'`: it imported a helper from the pytest plugin."""
    offenders = {str(p.relative_to(ROOT)): sorted(_imported_modules(p) & TEST_ONLY)
                 for p in _python_files("mini_kafka", "launcher")
                 if str(p.relative_to(ROOT)) not in TEST_ONLY_ALLOWED}
    assert {k: v for k, v in offenders.items() if v} == {}


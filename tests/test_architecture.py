"""The package's architecture: the command line only in cli/ (and `__main__` files), no import cycles, settings made once."""

import ast
import os

import grimp
import pytest
from conftest import REPO

PACKAGE = os.path.join(REPO, "kind_tf2")


@pytest.fixture(scope="module")
def graph():
    # grimp reads every import statement, those inside functions too.
    return grimp.build_graph("kind_tf2")


def _is_cli(module):
    return module == "kind_tf2.cli" or module.startswith("kind_tf2.cli.") or module.endswith("__main__")


def test_only_the_command_line_imports_it(graph):
    importers = set()
    for module in graph.find_descendants("kind_tf2.cli") | {"kind_tf2.cli"}:
        importers |= graph.find_modules_that_directly_import(module)
    assert {m for m in importers if not _is_cli(m)} == set()


def test_no_import_cycles(graph):
    cycles = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            if imported != module and graph.chain_exists(importer=imported, imported=module):
                cycles.append(" -> ".join(graph.find_shortest_chain(importer=imported, imported=module)) + f" -> {imported}")
    assert cycles == []


def _string_constants(path):
    with open(path) as f:
        tree = ast.parse(f.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def test_library_messages_name_fields_not_flags():
    # Flags are the command line's: a library string spelling `--name=` or `--name ` speaks for it.
    found = []
    for root, _, names in os.walk(PACKAGE):
        if os.path.basename(root) == "cli":
            continue
        for name in names:
            if name.endswith(".py") and name != "__main__.py":
                path = os.path.join(root, name)
                for line, text in _string_constants(path):
                    for word in text.split():
                        if word.startswith("--") and word[2:3].isalpha() and "pip" not in text:
                            found.append(f"{os.path.relpath(path, REPO)}:{line}: {word}")
    assert found == []


def test_every_module_says_what_it_is_in_its_docstring():
    for root, _, names in os.walk(PACKAGE):
        for name in names:
            if name.endswith(".py"):
                path = os.path.join(root, name)
                with open(path) as f:
                    doc = ast.get_docstring(ast.parse(f.read()))
                assert doc and doc.strip(), path


def test_no_archive_or_wheel_is_tracked():
    import subprocess

    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    archives = (".whl", ".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".egg")
    assert [p for p in tracked if p.lower().endswith(archives)] == []

"""What `pip install .` ships: the parsers, the templates and data files, the console script.
Under CI the suite runs against the installed (non-editable) package, so these fail if
pyproject.toml forgets to ship something."""
import pathlib
import shutil
import subprocess
import sys
from importlib import resources

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_every_template_file_is_shipped():
    shipped = {p.name for p in resources.files("miner.templates").iterdir()}
    in_repo = {p.name for p in (ROOT / "templates").iterdir() if p.suffix in (".yaml", ".yml", ".txt", ".toml", ".json")}
    assert in_repo <= shipped


def test_every_parser_module_is_importable():
    import miner.parsers as parsers

    in_repo = {p.stem for p in (ROOT / "parsers").glob("*.py") if p.stem != "__init__"}
    assert {m.__name__.rsplit(".", 1)[1] for m in parsers.available()} == in_repo


def test_console_script_runs():
    exe = shutil.which("miner") or shutil.which("miner", path=str(pathlib.Path(sys.executable).parent))
    assert exe, "the `miner` console script is not installed"
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "convert" in out.stdout

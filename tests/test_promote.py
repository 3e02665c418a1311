"""`mlops-nb stage add`: an exploratory notebook becomes a stage that runs; one that cannot is refused whole."""
import nbformat


def write_notebook(path, *sources):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Riskiest\n> The riskiest scored rows.")] +
                                  [nbformat.v4.new_code_cell(s) for s in sources])
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def test_a_notebook_becomes_a_stage_that_runs(project):
    write_notebook(project.root / "notebooks/riskiest.ipynb",
                   "import pandas as pd\ntop_n = 5",
                   "scores = pd.read_parquet('../data/pipeline/score/scores.parquet')",
                   "scores.nlargest(top_n, 'score').to_csv('riskiest.csv', index=False)")
    done = project.cli("stage", "add", "notebooks/riskiest.ipynb", "--name", "riskiest", "--env", "env.test.yaml")
    assert "after score" in done.stdout and "riskiest_top_n" in done.stdout
    out = project.root / "data/pipeline/riskiest/riskiest.csv"
    assert len(out.read_text().splitlines()) == 6  # header and top_n rows
    assert (project.root / "data/pipeline/riskiest/report.html").exists()
    assert "riskiest" in (project.root / "data/pipeline/index.html").read_text()
    # a parameter of the new stage, like any other: env.yaml holds it, --param reaches it, status sees it
    assert "riskiest_top_n: 5" in (project.root / "env.yaml").read_text()
    assert project.run("--param", "riskiest_top_n=3") == {"riskiest"}
    assert len(out.read_text().splitlines()) == 4
    assert "outdated" not in project.cli("status", "--env", "env.test.yaml", "--param", "riskiest_top_n=3").stdout


def test_a_notebook_that_cannot_be_a_stage_gets_a_list_and_no_change(project):
    before = {f: (project.root / f).read_text() for f in ("pipeline.yaml", "env.yaml")}
    write_notebook(project.root / "notebooks/bad.ipynb", "who = input('name? ')",
                   "import pandas as pd\ndf = pd.read_csv('/home/someone/loans.csv')")
    done = project.cli("stage", "add", "notebooks/bad.ipynb", "--name", "bad", check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    for problem in ("cell 2: reads from stdin (input())", "cell 3: absolute path '/home/someone/loans.csv' outside",
                    "writes no file that the stage maker can see"):
        assert problem in done.stderr, done.stderr
    assert {f: (project.root / f).read_text() for f in before} == before
    assert not list((project.root / "nbs/pipeline").glob("*_bad.ipynb"))


def test_a_stage_that_fails_its_first_run_is_undone(project):
    before = (project.root / "pipeline.yaml").read_text()
    write_notebook(project.root / "notebooks/broken.ipynb", "open('out.txt', 'w').write('x')", "1 / 0")
    done = project.cli("promote-notebook", "notebooks/broken.ipynb", "--name", "broken", "--after", "score",
                       "--env", "env.test.yaml", check=False)  # the old name of `stage add`: the same, and it says so
    assert "promote-notebook is `mlops-nb stage add` now" in done.stderr
    assert done.returncode == 2 and "making it was undone" in done.stderr and "ZeroDivisionError" in done.stderr
    assert (project.root / "pipeline.yaml").read_text() == before
    assert not list((project.root / "nbs/pipeline").glob("*_broken.ipynb"))

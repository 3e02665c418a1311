"""Parameters cannot run code, write outside the project, or take values outside their range: refused when read.

Derived-feature expressions are a small language evaluated by mlops-nb itself: every escape below is refused by
`config.load_params` (ConfigError naming the feature, the expression and what is not allowed) and by
`DerivedFeatures` itself (a model logged with such an expression refuses it, and nothing of it runs)."""
import pickle
import shutil
import signal
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mlops_nb.config import ALLOWED_EXPRESSION, ConfigError, load_params
from mlops_nb.features import DerivedFeatures, evaluate_expression, preprocessor

REPO = Path(__file__).resolve().parents[1]
CREDIT = pd.read_csv(REPO / "data/raw/credit_data.csv", nrows=50)
MARKER = "MARKER"  # replaced by a path that must never be created


def escapes(marker: Path) -> dict:
    "expression -> what the refusal must name. Each would run `touch marker` (or worse) under DataFrame.eval."
    touch = f"'touch {marker}'"
    return {
        f"Amount * 0 + @pd.io.common.os.system({touch})": "`@`",
        f"Amount * 0 + @os.system({touch})": "`@`",
        f"X.__class__.__init__.__globals__['os'].system({touch})": "attribute access",
        "X.__class__.__init__.__globals__": "attribute access `X.__class__.__init__.__globals__`",
        f"__import__('os').system({touch})": "attribute access",
        "__import__('os')": "calling `__import__`",
        f"eval(\"__import__('os').system({touch})\")": "calling `eval`",
        f"exec({touch})": "calling `exec`",
        f"open('{marker}', 'w')": "calling `open`",
        f"X.eval(\"@pd.io.common.os.system({touch})\")": "`@`",
        "X.eval('Amount')": "attribute access `X.eval`",
        "Amount.__class__": "attribute access",
        "__builtins__": "the name `__builtins__`",
        "Amount + __class__": "the name `__class__`",
        f"(lambda: __import__('os').system({touch}))()": "a lambda",
        "lambda x: x": "a lambda",
        "Amount[0]": "a subscript",
        "[Amount][0]": "a subscript",
        "[x for x in Amount]": "a comprehension",
        "sum(x for x in Amount)": "calling `sum`",
        "f'{Amount}'": "an f-string",
        "(y := Amount)": "an assignment",
        "Amount if Price else 0": "a conditional",
        "Amount @ Price": "`@`",
        "Amount in Price": "the operator `in`",
        "Amount << 2": "the operator `<<`",
        "'a' * 10 ** 9": "a string outside a comparison",
        "log(Amount, base=2)": "log takes 1 argument(s), by position",
        "where(*Amount)": "where takes 3 argument(s)",
        "Amount / Price " + "+ Amount / Price " * 40: "characters long, more than 500",
        "+".join(["Amount"] * 60): "more than 40 levels of nesting",
        "abs(" * 45 + "Amount" + ")" * 45: "more than 40 levels of nesting",
        "-" * 300 + "Amount": "more than 40 levels of nesting",
        "(" * 240 + "Amount" + ")" * 240: "not a valid expression (too many nested parentheses)",
        "Amount +": "not a valid expression",
        "Amount\x00": "not a valid expression",
        "": "it is empty",
        "1j * Amount": "the constant `1j`",
        "None": "the constant `None`",
    }


def write_env(root: Path, **values) -> Path:
    "A project folder with this repository's env.yaml and an env file holding `values`: the env file's name."
    shutil.copy(REPO / "env.yaml", root / "env.yaml")
    (root / "env.evil.yaml").write_text(yaml.safe_dump(values))
    return root / "env.evil.yaml"


@pytest.mark.parametrize("expr", list(escapes(Path("/tmp/never"))))
def test_every_escape_is_refused_when_parameters_are_read(tmp_path, expr):
    marker = tmp_path / "pwned"
    expr = expr.replace("/tmp/never", str(marker))
    what = escapes(marker)[expr]
    write_env(tmp_path, derived_features={"pwn": expr})
    with pytest.raises(ConfigError) as e:
        load_params(tmp_path, "env.evil.yaml")
    message = str(e.value)
    assert message.startswith("Parameter 'derived_features' in env.evil.yaml: derived feature 'pwn' = ")
    reason = message.split(" is not allowed: ", 1)[1].split(". A derived feature may use ", 1)[0]
    assert repr(expr) in message and what in reason, message
    assert ALLOWED_EXPRESSION in message and "\n" not in message
    assert not marker.exists()


@pytest.mark.parametrize("expr", list(escapes(Path("/tmp/never"))))
def test_every_escape_is_refused_by_the_transformer_and_nothing_runs(tmp_path, expr):
    marker = tmp_path / "pwned"
    expr = expr.replace("/tmp/never", str(marker))
    derive = DerivedFeatures({"pwn": expr})
    for use in (derive.fit, derive.transform, derive.fit_transform, derive.check):
        with pytest.raises(ConfigError, match="Derived feature 'pwn' = .* is not allowed"):
            use(CREDIT)
    with pytest.raises(ConfigError):
        evaluate_expression(CREDIT, expr)
    assert not marker.exists()


def test_a_logged_model_holding_an_escape_refuses_it(tmp_path):
    """A model fitted (as an older version could) with a malicious expression, stored and loaded as MLflow does
    (skops) and as pickle: predicting refuses the expression instead of running it."""
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from mlops_nb.train import trusted_types
    marker = tmp_path / "pwned"
    derived = yaml.safe_load((REPO / "env.yaml").read_text())["derived_features"]
    model = Pipeline([("pre", preprocessor(["Amount", "Price"], ["Home"], derived)),
                      ("clf", LogisticRegression())]).fit(CREDIT, CREDIT.Status)
    good = model.predict_proba(CREDIT)
    model.steps[0][1].named_steps["derive"].expressions = {
        **derived, "loan_to_price": f"Amount * 0 + @pd.io.common.os.system('touch {marker}')"}
    stored = [sio.loads(sio.dumps(model), trusted=trusted_types(model)), pickle.loads(pickle.dumps(model))]
    for loaded in stored:
        with pytest.raises(ConfigError, match="'loan_to_price' = .* is not allowed, and is not evaluated: `@`"):
            loaded.predict_proba(CREDIT)
    assert not marker.exists()
    model.steps[0][1].named_steps["derive"].expressions = derived  # the same model, its own expressions: as before
    np.testing.assert_array_equal(model.predict_proba(CREDIT), good)


@contextmanager
def at_most(seconds: int):
    "Fail (instead of hanging) when the block takes longer than `seconds`."
    def stop(*_):
        raise AssertionError(f"took more than {seconds}s")
    old = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("expr", ["10 ** 10 ** 10", "Amount * 0 + 9 ** 9 ** 9 ** 9", "(Amount + 10 ** 10 ** 10) ** 99999",
                                  "exp(exp(exp(Amount)))", "Amount * 999999999999999999999999999999 ** 99"])
def test_huge_powers_do_not_hang(tmp_path, expr):
    write_env(tmp_path, derived_features={"big": expr})
    start = time.perf_counter()
    with at_most(5):
        load_params(tmp_path, "env.evil.yaml")  # allowed: floats overflow to inf, which becomes missing
        big = DerivedFeatures({"big": expr}).fit_transform(CREDIT).big
    assert time.perf_counter() - start < 5 and big.isna().all()


def test_the_data_sets_expressions_give_the_same_values_as_before():
    "The credit pipeline's derived features (and the other data set's), over all rows: as DataFrame.eval computed them."
    credit = pd.read_csv(REPO / "data/raw/credit_data.csv")
    derived = yaml.safe_load((REPO / "env.yaml").read_text())["derived_features"]
    frame = DerivedFeatures(derived).fit_transform(credit)
    for name, expr in derived.items():
        before = pd.to_numeric(credit.eval(expr), errors="coerce").replace([np.inf, -np.inf], np.nan)
        pd.testing.assert_series_equal(frame[name], before, check_names=False)
    assert frame.installment_to_income[0] == 800 / 60 / 129  # by hand: Amount / Time / Income of the first row
    churn = pd.DataFrame({"monthly_charges": [70.5, 20.0], "tenure_months": [3, 0]})
    ratio = DerivedFeatures({"r": "monthly_charges / tenure_months"}).fit_transform(churn).r
    assert ratio[0] == 70.5 / 3 and np.isnan(ratio[1])
    quoted = DerivedFeatures({"r": "`monthly charges` / `tenure (months)`"}).fit_transform(
        churn.set_axis(["monthly charges", "tenure (months)"], axis=1)).r  # names that are not identifiers
    pd.testing.assert_series_equal(ratio, quoted)


SAFE_NAMES = ["feature_view", "model_name", "experiment"]


@pytest.mark.parametrize("name", SAFE_NAMES)
@pytest.mark.parametrize("value", ["../../../../tmp/x", "../x", "a/b", "a\\b", ".hidden", "..", "-rf", "x y", "x" * 101,
                                   "caf\u00e9\n"])
def test_names_that_become_paths_are_safe_names(tmp_path, name, value):
    write_env(tmp_path, **{name: value})
    with pytest.raises(ConfigError) as e:
        load_params(tmp_path, "env.evil.yaml")
    assert f"Parameter {name!r} in env.evil.yaml: got {value!r}" in str(e.value)
    assert "letters, digits, '-', '_' and '.', not starting with '.'" in str(e.value)


@pytest.mark.parametrize("name", SAFE_NAMES)
def test_ordinary_names_pass(tmp_path, name):
    for value in ["credit-risk", "churn_features", "model.v2", "A1"]:
        write_env(tmp_path, **{name: value})
        assert load_params(tmp_path, "env.evil.yaml")[name] == value


def test_output_paths_stay_in_the_project_input_paths_may_be_anywhere(tmp_path):
    outside = tmp_path.parent / "team-export.csv"
    for value in ["../schema.yaml", str(tmp_path.parent / "s.yaml"), "/etc/schema.yaml", "data/../../s.yaml"]:
        write_env(tmp_path, schema_path=value)
        with pytest.raises(ConfigError, match="Parameter 'schema_path' in env.evil.yaml: got .* not a path inside the project"):
            load_params(tmp_path, "env.evil.yaml")
    (tmp_path / "link").symlink_to(tmp_path.parent)
    write_env(tmp_path, schema_path="link/s.yaml")  # a symbolic link out of the project is outside too
    with pytest.raises(ConfigError, match="not a path inside the project"):
        load_params(tmp_path, "env.evil.yaml")
    write_env(tmp_path, schema_path="config/schema.yaml", data_path=str(outside), model_tests_path="/srv/tests.yaml")
    params = load_params(tmp_path, "env.evil.yaml")
    assert (params["schema_path"], params["data_path"]) == ("config/schema.yaml", str(outside))


@pytest.mark.parametrize("url", ["file:///etc/passwd", "data:text/plain,hello", "ftp://example.com/x", "http://",
                                 "https:///path", "javascript:alert(1)", "//example.com/x", "example.com/hook",
                                 "http://exa mple.com/", "http://example.com/\r\nX-Injected: 1", "http://[::1"])
def test_the_webhook_is_an_http_url(tmp_path, url):
    write_env(tmp_path, alert_webhook=url)
    with pytest.raises(ConfigError, match="Parameter 'alert_webhook' in env.evil.yaml: got .* an http:// or https:// URL"):
        load_params(tmp_path, "env.evil.yaml")


def test_http_webhooks_pass(tmp_path):
    for url in ["", "http://127.0.0.1:8080/alerts", "https://hooks.example.com/a/b?token=x", "http://[::1]:9/x"]:
        write_env(tmp_path, alert_webhook=url)
        assert load_params(tmp_path, "env.evil.yaml")["alert_webhook"] == url


OUT_OF_RANGE = [("sample", -5, ">= 0"), ("seed", -1, ">= 0"), ("seed", 2**32, "<= 4294967295"),
                ("test_size", 0, "> 0 and < 1"), ("test_size", 1.5, "> 0 and < 1"), ("validation_size", 1, "< 1"),
                ("validation_size", -0.1, ">= 0"), ("tuning_trials", -1, ">= 0"), ("tuning_seconds", 0, "> 0"),
                ("cv_folds", 1, ">= 2"), ("n_jobs", 0, "or -1"), ("n_jobs", -2, "or -1"), ("n_estimators", 0, ">= 1"),
                ("max_depth", 0, ">= 1"), ("min_samples_leaf", 0, ">= 1"), ("bias_min_group_share", 1.0, "< 1"),
                ("bias_max_rate_ratio", 0.5, ">= 1"), ("threshold", 1.1, "<= 1"), ("threshold", float("nan"), "<= 1"),
                ("threshold_cost_ratio", 0, "> 0"), ("min_roc_auc", 2, "<= 1"), ("max_dp_difference", -0.1, ">= 0"),
                ("max_eo_difference", 1.5, "<= 1"), ("champion_margin", -0.01, ">= 0"),
                ("drift_threshold", 0, "> 0"), ("drift_p_value", 0, "> 0 and < 1"),
                ("max_missing_rate", 1.2, "<= 1"), ("min_live_roc_auc", -1, ">= 0")]


@pytest.mark.parametrize("name, value, rule", OUT_OF_RANGE)
def test_numbers_out_of_their_range(tmp_path, name, value, rule):
    write_env(tmp_path)
    with pytest.raises(ConfigError) as e:
        load_params(tmp_path, overrides=[f"{name}={'.nan' if value != value else value}"])
    message = str(e.value)
    assert message.startswith(f"Parameter {name!r} in --param: got ") and rule in message, message
    assert f"Example: --param {name}=" in message
    fixed = message.rsplit("Example: --param ", 1)[1]
    assert load_params(tmp_path, overrides=[fixed])[name] is not None  # the example given is a value that passes


def test_every_default_and_the_test_env_pass_and_the_old_errors_stay(tmp_path):
    write_env(tmp_path)
    shutil.copy(REPO / "env.test.yaml", tmp_path)
    assert load_params(tmp_path, "env.test.yaml")["sample"] == 600
    assert load_params(tmp_path, overrides=["sample=0", "n_jobs=-1", "seed=0", "validation_size=0"])["n_jobs"] == -1
    with pytest.raises(ConfigError, match="Unknown parameter 'n_estimator' in --param. Did you mean 'n_estimators'"):
        load_params(tmp_path, overrides=["n_estimator=5"])
    with pytest.raises(ConfigError, match="must be of type int like its default 0, got 'many'.*Example: --param sample=0"):
        load_params(tmp_path, overrides=["sample=many"])
    write_env(tmp_path, sample=-5)
    with pytest.raises(ConfigError, match="Parameter 'sample' in env.evil.yaml: got -5"):
        load_params(tmp_path, "env.evil.yaml")


# Through the CLI, on the built test project: refused before any stage runs, nothing trained, nothing written.

def _trained(project) -> tuple:
    run = project.products("train")["run"]
    return len(project.registry().search_model_versions("name='credit-risk'")), run.stat().st_mtime_ns


def test_cli_refuses_a_malicious_expression_and_trains_nothing(project):
    marker = project.root.parent / "pwned"
    before = _trained(project)
    expr = f"Amount * 0 + @pd.io.common.os.system('touch {marker}')"
    err = project.fails("run", "--env", "env.test.yaml", "--param", f'derived_features={{pwn: "{expr}"}}')
    assert f"derived feature 'pwn' = {expr!r} is not allowed: `@`" in err and len(err.strip().splitlines()) == 1
    assert not marker.exists() and _trained(project) == before


def test_cli_refuses_paths_names_webhooks_and_ranges_before_any_stage(project):
    before = _trained(project)
    outside = project.root.parent / "outside"
    for param, says in [("feature_view=../../../outside", "Parameter 'feature_view' in --param: got '../../../outside'"),
                        ("model_name=../../x", "Parameter 'model_name' in --param: got '../../x'"),
                        ("experiment=../x", "Parameter 'experiment'"),
                        ("alert_webhook=file:///etc/passwd", "an http:// or https:// URL with a host"),
                        ("sample=-5", "Example: --param sample=1000")]:
        assert says in project.fails("run", "--env", "env.test.yaml", "--param", param)
    assert not outside.exists() and not list(project.root.parent.glob("*.parquet")) and _trained(project) == before
    assert "feature_view" in project.fails("status", "--env", "env.test.yaml", "--param", "feature_view=../x")

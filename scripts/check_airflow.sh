#!/usr/bin/env bash
# Check `mlops-nb export airflow` against a real Apache Airflow (not a mock): install Airflow (pinned) into its own
# venv, export this project's pipelines as DAGs into a temporary AIRFLOW_HOME, check that Airflow imports every DAG
# file without error, then run the default pipeline's DAG once with `airflow dags test` (env.test.yaml: a tiny run).
# The pipeline runs in a temporary copy of the project, so data/ of the repository is left alone.
#
#   scripts/check_airflow.sh                 # uses .venv/bin/mlops-nb (make's venv); about 30 s more the first time
#   MLOPS_NB=/path/to/mlops-nb scripts/check_airflow.sh
#
# Not part of the pytest suite: it installs 290 MB and takes about a minute. Airflow goes into .airflow-venv
# (git-ignored), reused while it holds the pinned version; no constraints file is used, so the version is pinned here.
set -euo pipefail
AIRFLOW_VERSION=3.3.2
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MLOPS_NB="${MLOPS_NB:-$ROOT/.venv/bin/mlops-nb}"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
VENV="$ROOT/.airflow-venv"
DATE=2026-01-01
start=$(date +%s)

[ -x "$MLOPS_NB" ] || { echo "check_airflow: no mlops-nb at $MLOPS_NB: run 'make run' first, or set MLOPS_NB" >&2; exit 2; }
if [ "$("$VENV/bin/airflow" version 2>/dev/null | tail -1)" != "$AIRFLOW_VERSION" ]; then
  echo "== installing apache-airflow==$AIRFLOW_VERSION into $VENV"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
  "$VENV/bin/python" -m pip install --quiet "apache-airflow==$AIRFLOW_VERSION" 2>&1 | grep -v "^WARNING: Location" || true
  [ "$("$VENV/bin/airflow" version 2>/dev/null | tail -1)" = "$AIRFLOW_VERSION" ] || { echo "check_airflow: installing Airflow failed" >&2; exit 1; }
fi
installed=$(date +%s)

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export AIRFLOW_HOME="$WORK/airflow" AIRFLOW__CORE__LOAD_EXAMPLES=False
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"  # the tasks use this checkout's mlops_nb
PROJECT="$WORK/project"
# the files a run reads, as the library lists them (mlops_nb.projects.run_files): no list of our own to rot
"$(dirname "$MLOPS_NB")/python" -c "import sys; from mlops_nb.projects import copy_run_files; copy_run_files(*sys.argv[1:])" \
  "$ROOT" "$PROJECT"

echo "== exporting the pipelines to $AIRFLOW_HOME/dags"
(cd "$PROJECT" && "$MLOPS_NB" export airflow "$AIRFLOW_HOME/dags" --env env.test.yaml)
"$VENV/bin/airflow" db migrate >"$WORK/migrate.log" 2>&1 || { cat "$WORK/migrate.log"; exit 1; }

echo "== airflow dags list-import-errors --local"
errors=$("$VENV/bin/airflow" dags list-import-errors --local -o plain 2>&1)
echo "$errors"
if ! echo "$errors" | grep -q "No data found"; then
  echo "check_airflow: FAILED: Airflow cannot import an exported DAG (above)" >&2
  exit 1
fi
"$VENV/bin/airflow" dags list --local -o plain 2>/dev/null | grep -E "^(dag_id|default)" || true

echo "== airflow dags test default $DATE"
tested=$(date +%s)
"$VENV/bin/airflow" dags test default "$DATE" >"$WORK/dags_test.log" 2>&1 || { tail -50 "$WORK/dags_test.log"; echo "check_airflow: FAILED: airflow dags test exited non-zero" >&2; exit 1; }
stages=$(cd "$PROJECT" && "$MLOPS_NB" status --env env.test.yaml)
echo "$stages"
if echo "$stages" | grep -q "outdated"; then
  tail -50 "$WORK/dags_test.log"
  echo "check_airflow: FAILED: a stage is still outdated after the DAG ran" >&2
  exit 1
fi
end=$(date +%s)
echo "check_airflow: OK: every stage ran under Airflow $AIRFLOW_VERSION; install $((installed - start)) s," \
     "export + import check $((tested - installed)) s, dags test $((end - tested)) s, total $((end - start)) s"

"""The whole loop of continuous training: serve, drifted traffic, an alert, a retrain through the gates, a new
champion, and the running server answering with it, without a restart."""
import json

import requests

from test_serving import post, sample, serve, stop
from conftest import wait_for


def served_version(url, body) -> int:
    answer = post(url, body)
    assert answer.status_code == 200, answer.text
    return answer.json()["model_version"]


def test_drifted_traffic_alerts_retrains_and_the_server_answers_with_the_new_champion(project):
    df = sample(project, 40)
    normal = json.dumps({"dataframe_split": json.loads(df.to_json(orient="split", index=False))})
    drifted = df.assign(Income=df.Income * 4, Amount=df.Amount * 3)
    drifted_body = json.dumps({"dataframe_split": json.loads(drifted.to_json(orient="split", index=False))})
    server, url = serve(project, "--reload-seconds", "1")
    try:
        assert served_version(url, normal) == 1
        for _ in range(10):
            assert served_version(url, drifted_body) == 1  # logged, for monitoring
        monitored = project.cli("monitor").stdout
        assert "ALERT feature_drift: Income drifted" in monitored
        ran = project.cli("schedule", "--env", "env.test.yaml", "--once").stdout
        assert "alert:" in ran and "train" in ran and "register" in ran
        assert project.champion() == 2  # the retrained model passed its gates
        wait_for(lambda: served_version(url, normal) == 2, "the server to answer with v2")
        assert requests.get(f"{url}/version", timeout=10).json()["model_version"] == 2
    finally:
        stop(server)

#!/usr/bin/env python3
"""Imports the runs of bench/ui_gen.py's history into MLflow, for bench/ui.sh.

usage: ui_mlflow.py --db FILE --commits N     (run with the MLflow venv's python)

One experiment, "ui-bench" (tagged mlflow.experimentKind=custom_model_development, so
MLflow 3 shows it as "Model training" with its runs table), holding N runs through MLflow's Python API (MlflowClient on a
SQLite backend store, which `mlflow ui --backend-store-uri sqlite:///FILE` reads): run i is
named "exp i: lr ... batch ..." (the mlrepo commit message), starts at T0 + 60*i (the commit
time) and ends a minute later, holds the same 50 params (as strings: MLflow's params are
strings), the same 50 scalar metrics (step 0) and the loss curve as metric "loss_curve" at
steps 0..49, all in one log_batch call per run (150 entities, under MLflow's 1,000 limit).
SQLite runs without fsync while importing (PRAGMA synchronous=OFF), as the mlrepo side
builds with MLREPO_FSYNC=0. Prints the experiment id.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ui_gen  # noqa: E402  (the values of the history)

from mlflow.entities import Metric, Param, RunTag  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402
from sqlalchemy import event  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402


@event.listens_for(Engine, "connect")
def _no_fsync(dbapi_connection, _record):
    # Building only: SQLite without fsync (as mlrepo builds with MLREPO_FSYNC=0). The file
    # `mlflow ui` reads afterwards is the same database.
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA synchronous=OFF")
    cur.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--commits", type=int, required=True)
    a = ap.parse_args()
    client = MlflowClient(tracking_uri="sqlite:///" + os.path.abspath(a.db))
    exp = client.get_experiment_by_name("ui-bench")
    exp_id = exp.experiment_id if exp else client.create_experiment("ui-bench")
    # A "Model training" experiment: MLflow 3 opens its runs table (not the GenAI overview).
    client.set_experiment_tag(exp_id, "mlflow.experimentKind", "custom_model_development")
    t_start = time.perf_counter()
    for i in range(1, a.commits + 1):
        p = ui_gen.params_of(i)
        m, curve = ui_gen.metrics_of(i)
        ts = (ui_gen.T0 + 60 * i) * 1000
        name = "exp %d: lr %s batch %d" % (i, p["lr"], p["batch_size"])
        run = client.create_run(exp_id, start_time=ts, tags={"mlflow.runName": name})
        rid = run.info.run_id
        metrics = [Metric(k, float(v), ts, 0) for k, v in m.items()]
        metrics += [Metric("loss_curve", float(v), ts + s, s) for s, v in enumerate(curve)]
        params = [Param("train." + k, str(v)) for k, v in p.items()]
        client.log_batch(rid, metrics=metrics, params=params, tags=[RunTag("commit_index", str(i))])
        client.set_terminated(rid, end_time=ts + 60_000)
        if i % 1000 == 0 or i == a.commits:
            sys.stderr.write("  mlflow: %d runs (%.0f s)\n" % (i, time.perf_counter() - t_start))
    print(exp_id)


if __name__ == "__main__":
    main()

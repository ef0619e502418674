# Exports scikit-learn's bundled classic datasets as train/test CSVs and prints scikit-learn
# reference scores with settings comparable to mlrepo's defaults.
import numpy as np, json
from sklearn import datasets
from sklearn.model_selection import train_test_split
from sklearn.linear_model import LogisticRegression, Ridge, LinearRegression
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler
from sklearn.pipeline import make_pipeline
from sklearn.metrics import accuracy_score, r2_score
refs = {}
def write(name, X, y, cols, label, classify, names=None):
    strat = y if classify else None
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=strat)
    for part, A, b in [("train", Xtr, ytr), ("test", Xte, yte)]:
        with open(f"{name}_{part}.csv", "w") as f:
            f.write(",".join(cols + [label]) + "\n")
            for row, t in zip(A, b):
                lab = names[t] if names is not None else (repr(float(t)) if not classify else str(int(t)))
                f.write(",".join(repr(float(v)) for v in row) + "," + lab + "\n")
    r = {}
    if classify:
        r["logistic_regression"] = accuracy_score(yte, make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(Xtr, ytr).predict(Xte))
        r["mlp_classifier"] = accuracy_score(yte, make_pipeline(StandardScaler(), MLPClassifier(random_state=0, max_iter=500)).fit(Xtr, ytr).predict(Xte))
    else:
        r["linear_regression"] = r2_score(yte, LinearRegression().fit(Xtr, ytr).predict(Xte))
        r["ridge"] = r2_score(yte, Ridge(alpha=1.0).fit(Xtr, ytr).predict(Xte))
        r["mlp_regressor"] = r2_score(yte, make_pipeline(StandardScaler(), MLPRegressor(random_state=0, max_iter=2000)).fit(Xtr, (ytr)).predict(Xte))
    refs[name] = r
d = datasets.load_iris(); write("iris", d.data, d.target, ["sepal_length","sepal_width","petal_length","petal_width"], "species", True, list(d.target_names))
d = datasets.load_wine(); write("wine", d.data, d.target, [c.replace("/","_") for c in d.feature_names], "cultivar", True)
d = datasets.load_breast_cancer(); write("breast_cancer", d.data, d.target, [c.replace(" ","_") for c in d.feature_names], "diagnosis", True, ["malignant","benign"])
d = datasets.load_digits(); write("digits", d.data, d.target, [f"px{i}" for i in range(64)], "digit", True)
d = datasets.load_diabetes(); write("diabetes", d.data, d.target, d.feature_names, "progression", False)
json.dump(refs, open("sklearn_reference.json", "w"), indent=2, sort_keys=True)
print(json.dumps(refs, indent=1))

"""Baselines run on the study's tracks, splits and files: ``mfcc_svm`` (MFCC statistics + RBF SVM) and
``linear_probe`` (frozen pretrained AST embeddings + logistic regression).

Modules: mfcc (features), probe (embeddings), svm and logistic (the classifiers), selection (grid choice on the
selection tracks, final fit on the training tracks), tables (per-shard feature tables), runs (fit from tables,
predictions and metrics files, selection record). The published numbers they stand beside are the report's
literature table (astgenre.report.literature). See docs/baselines.md.
"""

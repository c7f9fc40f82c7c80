"""incept.runtime: train, evaluate and predict with the models the backends emit.

Beside the compiler (spec -> IR -> passes -> backends) and used only after it:

    data/       data sets as arrays or file lists (IDX, CIFAR pickles, image folders),
                checked against the spec's input and classes; framework-free (numpy)
    recipe.py   the spec's `training:` section merged with CLI overrides
    schedule.py learning-rate schedules as pure functions of the step, shared by backends
    rundir.py   the run folder: config, metrics.csv, checkpoints, pictures
    crops.py    test-time crop geometry (1, 10 and the paper's 144 crops)
    metrics.py  top-1/top-5, loss, per-class accuracy, confusion matrix (numpy)
    plots.py    PNG curves, confusion matrix and prediction grid (matplotlib)
    resume.py   checks shared by the backends: architecture, recipe, classes, resume
    report.py   eval / predict / end-of-training report over a backend's loader
    modules.py  import generated source from the run folder
    convert.py  `incept convert`: a checkpoint in the other framework (weight transfer)
    torch/      the PyTorch side: model building + preflight, batches, the training
                loop, checkpoints, evaluation and prediction
    keras/      the Keras side (TensorFlow backend): the same, with tf.data, model.fit
                and .keras checkpoints

Framework-specific code lives only in the backend folders; everything else is shared.
"""

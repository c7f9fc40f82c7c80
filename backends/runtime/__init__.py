"""incept.runtime: train, evaluate, predict and export the models the backends emit.

Beside the compiler (spec -> IR -> passes -> backends) and used only after it. One
centre: a command resolves a Job (train.py), the driver runs its epochs (driver.py)
through a framework's adapter (adapter.py is the contract; torch/ and keras/ implement
it), and every checkpoint comes and goes through checkpoints.py.

    cli.py          the click commands (imports only click)
    train.py        `incept train`: flags -> Job, drive it, report where everything is
    job.py          Job and Options, a run's identity and config.json
    recipe.py       the spec's `training:` section merged with the recipe flags
    driver.py       the epoch loop for every framework: metrics rows, timing, best/last,
                    progress, signals (signals.py), non-finite checks, resume mid-epoch
    frameworks.py   which framework, loaded in the order that works, as an adapter;
                    missing extras as one line
    checkpoints.py  locate -> read -> check -> build -> load, for eval, predict, convert,
                    export, resume and --init-from
    evaluation.py   eval / predict / the end-of-training report over a loaded model
    convert.py      `incept convert`: a checkpoint in the other framework
    pretrained.py   `create_model(pretrained=...)`: which spec takes torchvision's, timm's
                    or keras.applications' weights, read by their loaders, or a path
    pretrained_fit.py  those weights into the model, every tensor accounted for
    weights.py      what --init-from, eval and predict read: a run or checkpoint, or a
                    library's weights or a weights file (their normalisation and classes)
    export/         `incept export`: ONNX and SavedModel
    data/           data sets as arrays or file lists, checked against the spec (numpy)
    schedule.py     learning-rate schedules as pure functions of the step
    metrics.py      softmax, loss, top-k, per-class accuracy, confusion (numpy): one
                    definition for training's test pass, eval and reports
    rundir.py, journal.py, plots.py, progress.py   the run folder and what goes in it
    crops.py        test-time crop geometry (1, 10 and the paper's 144 crops)
    resume.py       whether a run may continue (architecture, recipe, --epochs growth)
    torch/, keras/  each framework's adapter, session (model, optimizer, batches, one
                    step), checkpoints, devices and evaluation

No module imports one that imports it back, directly or through import_module
(tests/test_runtime_layout.py checks it).
"""

"""Benchmarks, installed as incept.bench: `incept bench` (bench.py) times a generated module
beside its reference; train_defaults.py measures the runtime's CPU/GPU defaults;
compile_time.py and compile_phases.py time `incept compile` from a source checkout."""

"""The PyTorch side of the runtime: batches on the device, the training session (DDP
under torchrun), `.pt` checkpoints, evaluation. Loaded through
incept.runtime.frameworks; `adapter.ADAPTER` is what the shared runtime uses."""

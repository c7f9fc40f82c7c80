"""The Keras side of the runtime (TensorFlow backend): batches with tf.data, the
training session, `.keras` checkpoints, evaluation. Loaded through
incept.runtime.frameworks, which sets KERAS_BACKEND first; `adapter.ADAPTER` is what
the shared runtime uses."""

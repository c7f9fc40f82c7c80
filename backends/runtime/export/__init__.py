"""`incept export`: a spec's or a trained checkpoint's model as ONNX or a TF SavedModel.

onnx.py exports the generated torch module; saved_model.py the generated Keras model.
Each writes to a temporary path beside the target, checks the result against the
framework's own outputs, and only then renames it into place.
"""

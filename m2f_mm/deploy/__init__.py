"""Deployment: ONNX export of the network, and running it with the models' own
pre- and post-processing (:mod:`m2f_mm.deploy.onnx`)."""
from .onnx import (INPUT_NAME, OPSET, OUTPUT_NAMES, LogitsNetwork, OnnxModel, export_onnx,
                   predictions_from_logits)

__all__ = ['LogitsNetwork', 'export_onnx', 'predictions_from_logits', 'OnnxModel',
           'INPUT_NAME', 'OUTPUT_NAMES', 'OPSET']

"""Deployment: ONNX export of the network, and running it with the models' own
pre- and post-processing (:mod:`m2f_mm.deploy.onnx`); the test pipeline for
in-memory images (:mod:`m2f_mm.deploy.pipeline`)."""
from .onnx import (DYNAMIC_AXES, INPUT_NAME, OPSET, OUTPUT_NAMES, LogitsNetwork, OnnxModel,
                   export_onnx, predictions_from_logits)
from .pipeline import inference_pipeline

__all__ = ['LogitsNetwork', 'export_onnx', 'predictions_from_logits', 'OnnxModel',
           'INPUT_NAME', 'OUTPUT_NAMES', 'OPSET', 'DYNAMIC_AXES', 'inference_pipeline']

"""ONNX export of a Mask2Former model's network, and the exported network run
with the model's own pre- and post-processing.

Shape letters: B batch, Q queries, K classes (K + 1 logits, the last is "no
object"), H x W network input (the preprocessed, padded batch).

What is exported is the network only: the backbone (and neck), the pixel decoder
and the transformer decoder, up to the final class and mask logits. The data
preprocessor (normalisation, padding) and the post-processing (panoptic fusion,
instance top-k, semantic scores, resizing) stay in PyTorch and are the model's
own: :func:`predictions_from_logits` is the path that PyTorch inference takes
after the network too. The deformable attention exports through its
``grid_sample`` path (:mod:`m2f_mm.ops.ms_deform_attn`), and the masked
attention as it is. The batch size and the input height and width are dynamic:
the graph computes every level size from its input, so one export serves any
input size (sides divisible by 32, as the data preprocessors pad them).
"""
from typing import List, Sequence, Tuple

import torch
from torch import Tensor, nn

from m2f_mm.models.mask2former_head import Mask2FormerHead
from m2f_mm.utils.errors import DataError

__all__ = ['LogitsNetwork', 'export_onnx', 'predictions_from_logits', 'OnnxModel',
           'INPUT_NAME', 'OUTPUT_NAMES', 'OPSET', 'DYNAMIC_AXES']

INPUT_NAME = 'inputs'
OUTPUT_NAMES = ('cls_logits', 'mask_logits')
OPSET = 17  # GridSample needs 16; LayerNormalization 17
DYNAMIC_AXES = {INPUT_NAME: {0: 'batch', 2: 'height', 3: 'width'},
                OUTPUT_NAMES[0]: {0: 'batch'},
                OUTPUT_NAMES[1]: {0: 'batch', 2: 'mask_height', 3: 'mask_width'}}


def mask_head(model: nn.Module) -> Mask2FormerHead:
    """The m2f_mm head of an mmdet detector (``panoptic_head``) or an mmseg
    segmentor (``decode_head``)."""
    for name in ('panoptic_head', 'decode_head'):
        head = getattr(model, name, None)
        if isinstance(head, Mask2FormerHead):
            return head
    raise DataError(f'{type(model).__name__} has no m2f_mm head (panoptic_head or '
                    'decode_head); only m2f_mm models can be exported')


class LogitsNetwork(nn.Module):
    """The exported part of a model: preprocessed inputs (B, 3, H, W) -> final
    class logits (B, Q, K + 1) and mask logits (B, Q, H/4, W/4)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.head = mask_head(model)

    def forward(self, inputs: Tensor) -> Tuple[Tensor, Tensor]:
        return self.head.final_prediction(self.model.extract_feat(inputs))


def export_onnx(model: nn.Module, inputs: Tensor, path: str) -> None:
    """Write ``model``'s network, traced on ``inputs`` (B, 3, H, W), to ``path``,
    with dynamic batch size and input size. Leaves ``model`` in eval mode."""
    network = LogitsNetwork(model).eval()
    with torch.no_grad():
        torch.onnx.export(network, (inputs,), path, input_names=[INPUT_NAME],
                          output_names=list(OUTPUT_NAMES), dynamic_axes=DYNAMIC_AXES,
                          opset_version=OPSET, dynamo=False)


def predictions_from_logits(model: nn.Module, cls_logits: Tensor, mask_logits: Tensor,
                            data_samples: Sequence) -> List:
    """The model's data samples with its predictions, from the final logits.

    For mmdet models, :meth:`m2f_mm.Mask2FormerDetector.predict_from_logits`
    (panoptic, instance and semantic results at the original size); for mmseg
    models, the decode head's semantic scores and mmseg's ``postprocess_result``,
    as ``EncoderDecoder.predict`` does.
    """
    if hasattr(model, 'predict_from_logits'):
        return model.predict_from_logits(cls_logits, mask_logits, data_samples)
    if model.test_cfg.get('mode', 'whole') != 'whole':
        raise DataError(f"model.test_cfg.mode={model.test_cfg['mode']!r}: an exported "
                        "network predicts whole images; use mode='whole'")
    metas = [sample.metainfo for sample in data_samples]
    scores = model.decode_head.scores_from_logits(cls_logits, mask_logits, metas,
                                                  model.test_cfg)
    return model.postprocess_result(scores, data_samples)


class OnnxModel:
    """An exported network in onnxruntime between its model's data preprocessor
    and post-processing: :meth:`test_step` answers as ``model.test_step`` does.

    Args:
        path: The .onnx file.
        model: The model it was exported from (its weights are not used).
        providers: onnxruntime execution providers.
    """

    def __init__(self, path: str, model: nn.Module,
                 providers: Sequence[str] = ('CPUExecutionProvider',)) -> None:
        import onnxruntime
        self.path = path
        self.session = onnxruntime.InferenceSession(path, providers=list(providers))
        self.model = model

    def logits(self, inputs: Tensor) -> Tuple[Tensor, Tensor]:
        """Class logits (B, Q, K + 1) and mask logits (B, Q, H/4, W/4) of
        preprocessed inputs (B, 3, H, W)."""
        cls_logits, mask_logits = self.session.run(
            list(OUTPUT_NAMES), {INPUT_NAME: inputs.detach().cpu().float().numpy()})
        return torch.from_numpy(cls_logits), torch.from_numpy(mask_logits)

    def test_step(self, data: dict) -> List:
        """Data samples with predictions from a batch of the test dataloader."""
        data = self.model.data_preprocessor(data, False)
        return predictions_from_logits(self.model, *self.logits(data['inputs']),
                                       data['data_samples'])

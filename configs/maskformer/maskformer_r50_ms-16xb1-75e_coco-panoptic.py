# MaskFormer R50 + 6 Enc, COCO panoptic (MaskFormer paper: PQ 46.5, 45M parameters).
# mmdet's MaskFormer recipe (multi-scale training, 75 epochs, AdamW) with m2f_mm's head in
# MaskFormer's settings and COCO panoptic loading; one model reports PQ, mask AP and mIoU.
_base_ = [
    'mmdet::maskformer/maskformer_r50_ms-16xb1-75e_coco.py',
    '../_base_/maskformer_heads.py', '../_base_/coco_panoptic_data.py']
custom_imports = dict(imports=['m2f_mm'], allow_failed_imports=False)
model = dict(
    _base_.coco_panoptic_model,
    panoptic_head=dict(
        _base_.coco_panoptic_head, in_channels=_base_.backbone_channels.resnet,
        pixel_decoder=_base_.maskformer_pixel_decoder,
        transformer_decoder=_base_.maskformer_transformer_decoder,
        criterion=_base_.maskformer_criterion))
train_dataloader = _base_.coco_panoptic_train_dataloader
val_dataloader = test_dataloader = _base_.coco_panoptic_test_dataloader
val_evaluator = test_evaluator = _base_.coco_panoptic_evaluator

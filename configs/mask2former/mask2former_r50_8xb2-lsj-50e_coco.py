# Mask2Former R50, COCO instance segmentation (mask AP 43.7 in the reference model zoo).
# mmdet's instance recipe with m2f_mm's head.
_base_ = ['mmdet::mask2former/mask2former_r50_8xb2-lsj-50e_coco.py',
          '../_base_/mask2former_r50.py']
custom_imports = dict(imports=['m2f_mm'], allow_failed_imports=False)
# Matching and point sampling live in the head's criterion, hence no train_cfg.
model = dict(type='m2f_mm.Mask2FormerDetector', panoptic_head={{_base_.coco_instance_head}},
             panoptic_fusion_head={{_base_.fusion_head}}, train_cfg=None,
             test_cfg=dict(_delete_=True, instance_on=True, panoptic_on=False))

# The heads of m2f_mm's R50 configs over ResNet-50's four levels, one per dataset. Every
# other setting is the code's default, which is the paper's. The det heads go with
# `fusion_head` into m2f_mm.Mask2FormerDetector (it gives the fusion head the class
# counts); the decode heads go into mmseg's EncoderDecoder.
_r50_levels = dict(in_channels=[256, 512, 1024, 2048], strides=[4, 8, 16, 32])
_r50_det_head = dict(_r50_levels, _delete_=True, type='m2f_mm.Mask2FormerDetHead')
_r50_decode_head = dict(_r50_levels, _delete_=True, type='m2f_mm.Mask2FormerDecodeHead')
coco_panoptic_head = dict(_r50_det_head, num_things_classes=80, num_stuff_classes=53)
coco_instance_head = dict(_r50_det_head, num_things_classes=80, num_stuff_classes=0)
fusion_head = dict(_delete_=True, type='m2f_mm.Mask2FormerFusionHead')
ade20k_decode_head = dict(_r50_decode_head, num_classes=150)
cityscapes_decode_head = dict(_r50_decode_head, num_classes=19)

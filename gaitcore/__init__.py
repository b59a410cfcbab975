"""The project's core, which every other package may import and which imports none of them:
the pretreated format (``pretreated_io``) and its safe loading (``safe_pickle``), atomic files,
the command-line runner (``cli``), image / video / pose I/O, the pose and segmentation model
wrappers, silhouette alignment and skeleton maps, and the CCVID split-file layout."""

"""Datasets over the pretreated layout, samplers, frame sampling, transforms and collation."""

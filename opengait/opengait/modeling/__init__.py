"""Gait models (a registry of plain nn.Modules), their building blocks and the losses."""

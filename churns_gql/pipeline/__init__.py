"""The staged pipeline: modes and stage lists from configs/stage_order.yml."""

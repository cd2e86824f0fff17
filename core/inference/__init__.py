"""core/inference"""

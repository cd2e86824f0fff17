"""core/studies"""

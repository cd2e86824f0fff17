"""core/util"""

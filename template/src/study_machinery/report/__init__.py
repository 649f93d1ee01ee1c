"""What people read, from the recorded result: tables, figures, the learning curves' figure, LaTeX,
the README's results section (readme) and the report stage (write).
"""

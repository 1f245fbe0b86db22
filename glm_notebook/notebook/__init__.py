"""The notebook faces: the `%%glm` magic, its displays, the terminal, and the chat widget.

The only modules that import IPython, ipywidgets or anywidget; nothing below them imports these.
"""

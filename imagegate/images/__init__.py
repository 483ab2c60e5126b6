"""Images in and out: untrusted bytes read safely, edit inputs, output formats, sizes."""

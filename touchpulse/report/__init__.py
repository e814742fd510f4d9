"""The daily report: one self-contained HTML page with the previous business day's verdict and charts."""

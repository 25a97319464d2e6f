"""Reading a large Date Range report on two cores: a helper process reads the rows after a line boundary.

Its sums stand in for reading on only when they are what one pass would give (the boundary ends a
record, the helper read to the end without error, none of its first rows depended on the row
before), so the helper can save time but never change a result.
"""

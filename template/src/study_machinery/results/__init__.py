"""A tier's runs made into its recorded result: statistics (estimates), the aggregate stage
(aggregate), the learning curves' table (curves), and the result as the readers of results/ load
it (recorded).
"""

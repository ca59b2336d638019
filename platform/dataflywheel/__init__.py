"""dataflywheel: product events to dbt marts, features, online rankers and back."""

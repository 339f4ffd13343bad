"""Score-function and pathwise gradient estimators and their variance. Lesson 06."""

__all__: list[str] = []

"""Neutral sample posts (weather, transport, football, markets) shared by the text tests."""

POST_AR = (
    "تتوقع الأرصاد أن يكون الطقس معتدلا في الرباط يوم الأحد. ستصل درجة الحرارة إلى 24 درجة "
    "مئوية في المساء. يُنصح السائقون بالحذر بسبب الضباب الكثيف على الطرق الساحلية صباحا."
)
POST_EN = (
    "The council announced a new bus route starting on Monday. The old bridge will close for "
    "repairs for twelve days. Police advise using alternative routes during rush hour."
)
OTHER_AR = (
    "فاز النادي على منافسه بهدفين مقابل هدف يوم الخميس. سجل المهاجم هدفا رائعا في الدقيقة 41 "
    "واحتفل المشجعون في شوارع المدينة حتى ساعة متأخرة من الليل."
)
OTHER_EN = (
    "The weekly market opened at dawn on Monday. Traders expect a busy season for the wheat "
    "harvest, and the price of coffee rose by five percent this week."
)

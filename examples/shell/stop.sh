kill %1 %2

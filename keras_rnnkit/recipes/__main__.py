import sys

from keras_rnnkit.recipes import main

sys.exit(main())

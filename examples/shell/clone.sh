git clone https://github.com/cobalt-mock/cobalt-mock && cd cobalt-mock
make serve
